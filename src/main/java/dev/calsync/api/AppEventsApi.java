package dev.calsync.api;

import java.util.Map;

import dev.calsync.local.LocalEventStore;
import dev.calsync.outbound.AppChanges;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** Read side of the application API: {@code GET /api/v1/events/{id}} and {@code GET /api/v1/events}. */
@Component("appEventsApi")
public class AppEventsApi {

    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 200;

    private final LocalEventStore store;
    private final AppChanges changes;
    private final com.fasterxml.jackson.databind.ObjectMapper json;

    public AppEventsApi(LocalEventStore store, AppChanges changes, com.fasterxml.jackson.databind.ObjectMapper json) {
        this.store = store;
        this.changes = changes;
        this.json = json;
    }

    /** {@code PUT /api/v1/events/{id}}: 201 created, 200 replaced; the push to the calendar follows. */
    public Map<String, Object> put(@Header("id") String id, @Header("Content-Type") String contentType,
                                   @org.apache.camel.Body String body, org.apache.camel.Exchange exchange) {
        if (!dev.calsync.webhook.WebhookRequestGuard.isJson(contentType)) {
            throw new Rejection(415, "unsupported_media_type", "Content-Type must be application/json");
        }
        Map<String, Object> fields;
        try {
            fields = json.readValue(body == null ? "" : body,
                    new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {
                    });
        } catch (java.io.IOException e) {
            throw new Rejection(400, "malformed_json", "body is not a JSON object");
        }
        AppChanges.Put result = changes.put(id, fields);
        exchange.setProperty("httpStatus", result.status());
        return result.record();
    }

    /** {@code DELETE /api/v1/events/{id}}: 202, the calendar delete follows; 404 if unknown. */
    public Map<String, Object> delete(@Header("id") String id, org.apache.camel.Exchange exchange) {
        if (!changes.delete(id)) {
            throw new Rejection(404, "not_found", "no event with id " + id);
        }
        exchange.setProperty("httpStatus", 202);
        return Map.of("id", id, "status", "deleting");
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
