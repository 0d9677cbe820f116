package dev.calsync.api;

import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.calsync.inbox.NotificationInbox;
import org.apache.camel.Header;
import org.springframework.stereotype.Component;

/** Admin view of stored notifications: list them by status, replay a dead letter. */
@Component("adminNotificationsApi")
public class AdminNotificationsApi {

    private static final Set<String> STATUSES = Set.of("received", "processing", "processed", "dead");

    private final NotificationInbox inbox;
    private final dev.calsync.outbound.PushOutbox outbox;

    public AdminNotificationsApi(NotificationInbox inbox, dev.calsync.outbound.PushOutbox outbox) {
        this.inbox = inbox;
        this.outbox = outbox;
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
}
