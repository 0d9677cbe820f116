package dev.calsync.api;

import java.util.Map;

import dev.calsync.local.LocalEventStore;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** Read side of the application API: {@code GET /api/v1/events/{id}} and {@code GET /api/v1/events}. */
@Component("appEventsApi")
public class AppEventsApi {

    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 200;

    private final LocalEventStore store;

    public AppEventsApi(LocalEventStore store) {
        this.store = store;
    }

    public Map<String, Object> get(@Header("id") String id) {
        Map<String, Object> record = store.find(id);
        if (record == null) {
            throw new Rejection(404, "not_found", "no event with id " + id);
        }
        return record;
    }

    public Map<String, Object> list(@Header("grant_id") String grantId, @Header("calendar_id") String calendarId,
                                    @Header("limit") String limit, @Header("cursor") String cursor) {
        try {
            return store.list(blankToNull(grantId), blankToNull(calendarId), limit(limit), blankToNull(cursor));
        } catch (IllegalArgumentException e) {
            throw new Rejection(400, "invalid_cursor", e.getMessage());
        }
    }

    static int limit(String value) {
        if (value == null || value.isBlank()) {
            return DEFAULT_LIMIT;
        }
        try {
            int limit = Integer.parseInt(value.trim());
            if (limit >= 1 && limit <= MAX_LIMIT) {
                return limit;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw new Rejection(400, "invalid_limit", "limit must be an integer from 1 to " + MAX_LIMIT);
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value;
    }
}
