package dev.calsync.api;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
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
    private static final String ALL = "all";

    private final GrantStates grants;

    public AdminGrantsApi(GrantStates grants) {
        this.grants = grants;
    }

    /**
     * {@code GET /admin/grants?state=paused&limit=&cursor=}: a page of grants in one state ({@code status} is the same
     * filter under another name; {@code paused} by default, {@code all} for every state), most recently changed
     * first; {@code next_cursor} fetches the next page, null on the last.
     */
    public Map<String, Object> list(@Header("state") String state, @Header("status") String status,
                                    @Header("limit") String limit, @Header("cursor") String cursor) {
        String given = state == null || state.isBlank() ? status : state;
        String wanted = given == null || given.isBlank() ? GrantStates.PAUSED : given.trim();
        if (!STATES.contains(wanted) && !ALL.equals(wanted)) {
            throw new Rejection(400, "invalid_state", "state must be one of " + STATES + " or " + ALL);
        }
        int size = AppEventsApi.limit(limit);
        Instant afterUpdatedAt = null;
        String afterGrantId = null;
        if (cursor != null && !cursor.isBlank()) {
            // the cursor is the last row's sort key (change time, grant id), opaque to the caller
            try {
                String[] key = new String(Base64.getUrlDecoder().decode(cursor.trim()), StandardCharsets.UTF_8)
                        .split("\n", 2);
                afterUpdatedAt = Instant.parse(key[0]);
                afterGrantId = key[1];
            } catch (IllegalArgumentException | DateTimeParseException | ArrayIndexOutOfBoundsException e) {
                throw new Rejection(400, "invalid_cursor", "cursor is not one this API returned");
            }
        }
        List<Map<String, Object>> rows = grants.page(ALL.equals(wanted) ? null : wanted, size + 1, afterUpdatedAt,
                afterGrantId);
        String next = null;
        if (rows.size() > size) {
            rows = rows.subList(0, size);
            Map<String, Object> last = rows.get(size - 1);
            Instant changed = ((java.sql.Timestamp) last.get("updated_at")).toInstant();
            next = Base64.getUrlEncoder().withoutPadding().encodeToString(
                    (changed + "\n" + last.get("grant_id")).getBytes(StandardCharsets.UTF_8));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("data", rows);
        out.put("next_cursor", next);
        return out;
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
