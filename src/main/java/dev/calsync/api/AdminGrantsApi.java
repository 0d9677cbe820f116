package dev.calsync.api;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.calsync.grants.GrantStates;
import org.apache.camel.Exchange;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.GRANT_ID;

/** Admin view of grants: list them by state, resume a paused one. */
@Component("adminGrantsApi")
public class AdminGrantsApi {

    private static final Set<String> STATES = Set.of(GrantStates.PAUSED, GrantStates.ACTIVE);

    private final GrantStates grants;

    public AdminGrantsApi(GrantStates grants) {
        this.grants = grants;
    }

    /** {@code GET /admin/grants?state=paused&limit=}: grants in one state (paused by default). */
    public Map<String, Object> list(@Header("state") String state, @Header("limit") String limit) {
        String wanted = state == null || state.isBlank() ? GrantStates.PAUSED : state.trim();
        if (!STATES.contains(wanted)) {
            throw new Rejection(400, "invalid_state", "state must be one of " + STATES);
        }
        List<Map<String, Object>> rows = grants.list(wanted, AppEventsApi.limit(limit));
        return Map.of("data", rows);
    }

    /**
     * {@code POST /admin/grants/{grant_id}/resume}: resumes a paused grant (its waiting notifications are processed,
     * and its calendars reconciled); 404 when the grant is not paused.
     */
    public Map<String, Object> resume(@Header("grant_id") String grantId, Exchange exchange) {
        if (!grants.resumeByAdmin(grantId)) {
            throw new Rejection(404, "not_found", "grant " + grantId + " is not paused");
        }
        exchange.getMessage().setHeader(GRANT_ID, grantId);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("grant_id", grantId);
        out.put("state", GrantStates.ACTIVE);
        return out;
    }
}
