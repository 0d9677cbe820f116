package dev.calsync.api;

import java.util.LinkedHashMap;
import java.util.Map;

import dev.calsync.grants.GrantStates;
import dev.calsync.inbox.NotificationInbox;
import dev.calsync.reconcile.ReconcileRuns;
import org.springframework.stereotype.Component;

/**
 * {@code GET /admin/summary}: the figures an operator looks at first, in one answer: the notification backlog (and
 * dead letters), grants by state, reconciliation runs queued and running. Each figure is read by its table's owner.
 */
@Component("adminSummaryApi")
public class AdminSummaryApi {

    private final NotificationInbox inbox;
    private final GrantStates grants;
    private final ReconcileRuns runs;

    public AdminSummaryApi(NotificationInbox inbox, GrantStates grants, ReconcileRuns runs) {
        this.inbox = inbox;
        this.grants = grants;
        this.runs = runs;
    }

    public Map<String, Object> summary() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("notifications", inbox.backlog());
        out.put("grants", grants.counts());
        out.put("reconcile", runs.counts());
        return out;
    }
}
