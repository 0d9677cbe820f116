package dev.calsync.api;

import java.util.Map;
import java.util.Set;

import dev.calsync.reconcile.ReconcileRuns;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** {@code GET /admin/reconcile}: the reconciliation runs, newest first; one run's plan is {@code /{run_id}}. */
@Component("adminReconcileApi")
public class AdminReconcileApi {

    private static final Set<String> STATUSES = Set.of("queued", "running", "succeeded", "failed");

    private final ReconcileRuns runs;

    public AdminReconcileApi(ReconcileRuns runs) {
        this.runs = runs;
    }

    /** {@code GET /admin/reconcile?status=&grant_id=&limit=}: runs in one status and of one grant, each optional. */
    public Map<String, Object> list(@Header("status") String status, @Header("grant_id") String grantId,
                                    @Header("limit") String limit) {
        String wanted = status == null || status.isBlank() ? null : status.trim();
        if (wanted != null && !STATUSES.contains(wanted)) {
            throw new Rejection(400, "invalid_status", "status must be one of " + STATUSES);
        }
        String grant = grantId == null || grantId.isBlank() ? null : grantId.trim();
        return Map.of("data", runs.list(wanted, grant, AppEventsApi.limit(limit)));
    }
}
