package dev.calsync.support;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/** Builds webhook notifications in Nylas' envelope, for tests. */
public final class Notifications {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Notifications() {
    }

    /** A timed event, one hour from {@code start}, with the given fields merged over the defaults. */
    public static Map<String, Object> event(String grantId, String eventId, String title, long updatedAt) {
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("id", eventId);
        event.put("object", "event");
        event.put("grant_id", grantId);
        event.put("calendar_id", "primary");
        event.put("title", title);
        event.put("description", "Agenda for " + title);
        event.put("location", "Room 1");
        event.put("when", Map.of("object", "timespan", "start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin"));
        event.put("participants", List.of(Map.of("email", "ada@example.com", "name", "Ada")));
        event.put("updated_at", updatedAt);
        return event;
    }

    public static Map<String, Object> deletedEvent(String grantId, String eventId) {
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("id", eventId);
        event.put("object", "event");
        event.put("grant_id", grantId);
        event.put("calendar_id", "primary");
        return event;
    }

    public static String envelope(String id, String type, Map<String, Object> object) {
        return envelope(id, type, object, Instant.now().getEpochSecond());
    }

    public static String envelope(String id, String type, Map<String, Object> object, Long time) {
        Map<String, Object> n = new LinkedHashMap<>();
        n.put("specversion", "1.0");
        n.put("type", type);
        n.put("source", "/google/events/realtime");
        n.put("id", id);
        if (time != null) {
            n.put("time", time);
        }
        n.put("webhook_delivery_attempt", 1);
        n.put("data", Map.of("application_id", "app-1", "object", object));
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String newId() {
        return "ntf-" + UUID.randomUUID();
    }
}
