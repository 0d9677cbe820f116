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

    public AdminNotificationsApi(NotificationInbox inbox) {
        this.inbox = inbox;
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
