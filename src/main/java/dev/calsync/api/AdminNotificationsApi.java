package dev.calsync.api;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.inbox.NotificationInbox;
import org.apache.camel.Body;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** Admin view of stored notifications: list them by status, replay a dead letter, or many by a filter. */
@Component("adminNotificationsApi")
public class AdminNotificationsApi {

    private static final Set<String> STATUSES = Set.of("received", "processing", "processed", "dead");

    /** Dead letters replayed by one bulk request when it names no {@code limit}, and the most it may name. */
    static final int DEFAULT_BULK_LIMIT = 100;
    static final int MAX_BULK_LIMIT = 1_000;
    private static final List<String> BULK_FIELDS = List.of("type", "grant_id", "from", "to", "limit", "all");
    private static final List<String> PUSH_BULK_FIELDS = List.of("grant_id", "calendar_id", "limit", "all");

    private final NotificationInbox inbox;
    private final dev.calsync.outbound.PushOutbox outbox;
    private final ObjectMapper json;

    public AdminNotificationsApi(NotificationInbox inbox, dev.calsync.outbound.PushOutbox outbox, ObjectMapper json) {
        this.inbox = inbox;
        this.outbox = outbox;
        this.json = json;
    }

    /** {@code POST /admin/events/{id}/replay}: pushes a failed application change again. */
    public Map<String, Object> replayPush(@Header("id") String id, org.apache.camel.Exchange exchange) {
        if (!outbox.replay(id)) {
            throw new Rejection(404, "not_found", "no failed push for event " + id);
        }
        exchange.setProperty("httpStatus", 202);
        return Map.of("id", id, "sync_state", "pending");
    }

    public Map<String, Object> list(@Header("status") String status, @Header("limit") String limit) {
        String wanted = status == null || status.isBlank() ? "dead" : status.trim();
        if (!STATUSES.contains(wanted)) {
            throw new Rejection(400, "invalid_status", "status must be one of " + STATUSES);
        }
        List<Map<String, Object>> rows = inbox.list(wanted, AppEventsApi.limit(limit));
        return Map.of("data", rows);
    }

    public Map<String, Object> replay(@Header("id") String id) {
        if (!inbox.replay(id)) {
            throw new Rejection(404, "not_found", "no dead or processed notification with id " + id);
        }
        return Map.of("notification_id", id, "status", "received");
    }

    /**
     * {@code POST /admin/notifications/replay} {@code {"type","grant_id","from","to","limit","all"}}: replays the dead
     * letters the filters match (notification type, grant, received in {@code [from, to)}), oldest received first, at
     * most {@code limit} (100 by default, 1,000 at most), each exactly as {@link #replay} does one. A request with no
     * filter must say {@code "all": true}, so an empty body never replays everything by mistake; an unknown field is
     * refused, so a misspelt filter is never silently ignored. Answers how many were replayed and how many the filters
     * still match.
     */
    public Map<String, Object> replayBulk(@Body String body) {
        Map<String, Object> req = object(body);
        List<String> problems = unknownFields(req, BULK_FIELDS);
        String type = text(req, "type", problems);
        String grantId = text(req, "grant_id", problems);
        Instant from = time(req, "from", problems);
        Instant to = time(req, "to", problems);
        if (from != null && to != null && !from.isBefore(to)) {
            problems.add("to: must be after from");
        }
        int limit = bulkLimit(req, problems);
        boolean all = all(req, problems);
        if (problems.isEmpty() && type == null && grantId == null && from == null && to == null && !all) {
            throw new Rejection(400, "filter_required",
                    "name at least one of type, grant_id, from, to, or replay every dead letter with \"all\": true");
        }
        if (!problems.isEmpty()) {
            throw new Rejection(400, "invalid_request", String.join("; ", problems));
        }
        List<String> replayed = inbox.replayDead(type, grantId, from, to, limit);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("replayed", replayed.size());
        out.put("notification_ids", replayed);
        out.put("remaining", inbox.countDead(type, grantId, from, to));
        return out;
    }

    /**
     * {@code POST /admin/events/replay} {@code {"grant_id","calendar_id","limit","all"}}: pushes again the failed
     * application changes of a grant and of a calendar, longest failed first, at most {@code limit} (100 by default,
     * 1,000 at most), each exactly as {@link #replayPush} does one; the same rules as {@link #replayBulk} (no filter
     * only with {@code "all": true}, unknown fields refused).
     */
    public Map<String, Object> replayPushes(@Body String body) {
        Map<String, Object> req = object(body);
        List<String> problems = unknownFields(req, PUSH_BULK_FIELDS);
        String grantId = text(req, "grant_id", problems);
        String calendarId = text(req, "calendar_id", problems);
        int limit = bulkLimit(req, problems);
        boolean all = all(req, problems);
        if (problems.isEmpty() && grantId == null && calendarId == null && !all) {
            throw new Rejection(400, "filter_required",
                    "name at least one of grant_id, calendar_id, or replay every failed push with \"all\": true");
        }
        if (!problems.isEmpty()) {
            throw new Rejection(400, "invalid_request", String.join("; ", problems));
        }
        List<String> replayed = outbox.replayFailed(grantId, calendarId, limit);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("replayed", replayed.size());
        out.put("event_ids", replayed);
        out.put("remaining", outbox.countFailed(grantId, calendarId));
        return out;
    }

    private Map<String, Object> object(String body) {
        Map<String, Object> req;
        try {
            req = json.readValue(body == null || body.isBlank() ? "{}" : body, new TypeReference<>() {
            });
        } catch (java.io.IOException e) {
            throw new Rejection(400, "malformed_json", "body is not a JSON object");
        }
        if (req == null) {
            throw new Rejection(400, "malformed_json", "body is not a JSON object");
        }
        return req;
    }

    private static List<String> unknownFields(Map<String, Object> req, List<String> allowed) {
        List<String> problems = new ArrayList<>();
        req.keySet().stream().filter(k -> !allowed.contains(k)).sorted()
                .forEach(k -> problems.add(k + ": unknown field (allowed: " + String.join(", ", allowed) + ")"));
        return problems;
    }

    private static int bulkLimit(Map<String, Object> req, List<String> problems) {
        Object raw = req.get("limit");
        if (raw == null) {
            return DEFAULT_BULK_LIMIT;
        }
        if (raw instanceof Integer n && n >= 1 && n <= MAX_BULK_LIMIT) {
            return n;
        }
        problems.add("limit: must be an integer from 1 to " + MAX_BULK_LIMIT);
        return DEFAULT_BULK_LIMIT;
    }

    private static boolean all(Map<String, Object> req, List<String> problems) {
        Object all = req.get("all");
        if (all != null && !(all instanceof Boolean)) {
            problems.add("all: must be true or false");
        }
        return Boolean.TRUE.equals(all);
    }

    private static String text(Map<String, Object> req, String field, List<String> problems) {
        Object value = req.get(field);
        if (value == null) {
            return null;
        }
        if (value instanceof String s && !s.isBlank()) {
            return s.trim();
        }
        problems.add(field + ": must be a non-empty string");
        return null;
    }

    private static Instant time(Map<String, Object> req, String field, List<String> problems) {
        Object value = req.get(field);
        if (value == null) {
            return null;
        }
        if (value instanceof String s) {
            try {
                return OffsetDateTime.parse(s.trim()).toInstant();
            } catch (DateTimeParseException e) {
                // reported below
            }
        }
        problems.add(field + ": must be an ISO-8601 time with an offset, e.g. 2026-01-31T12:00:00Z");
        return null;
    }
}
