package dev.calsync.inbox;

import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.mapping.ClaimMappings;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncVariables.ATTEMPTS;
import static dev.calsync.CalsyncVariables.NOTIFICATION_CLAIM;
import static dev.calsync.CalsyncVariables.NOTIFICATION_ID;
import static dev.calsync.CalsyncVariables.NOTIFICATION_TYPE;
import static dev.calsync.CalsyncVariables.NOTIFIED_AT;
import static dev.calsync.CalsyncVariables.TOPIC;
import static dev.calsync.CalsyncVariables.TRUNCATED;

/**
 * Opens a claimed notification for the content-based router: the topic is the first two dot-separated parts of
 * {@code type} (so {@code event.updated.transformed} routes as {@code event.updated}), {@code .truncated} is flagged,
 * and the body becomes {@code data.object}.
 */
@Component("notificationRouting")
public class NotificationRouting {

    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {
    };

    private final ObjectMapper json;

    public NotificationRouting(ObjectMapper json) {
        this.json = json;
    }

    public void open(Exchange exchange) throws JsonProcessingException {
        Message m = exchange.getMessage();
        Map<?, ?> row = m.getBody(Map.class);
        String type = (String) row.get("type");
        exchange.setVariable(NOTIFICATION_ID, row.get("notification_id"));
        exchange.setVariable(ATTEMPTS, row.get("attempts"));
        exchange.setVariable(NOTIFICATION_CLAIM, row.get("claim_token"));
        exchange.setVariable(NOTIFICATION_TYPE, type);
        exchange.setVariable(NOTIFIED_AT, row.get("notified_at"));
        exchange.setVariable(TOPIC, topic(type));
        exchange.setVariable(TRUNCATED, type.endsWith(".truncated"));
        // the mapping rows the claim read for this notification, if it read them (ClaimMappings)
        Object prefetched = row.get(ClaimMappings.KEY);
        if (prefetched != null) {
            exchange.setVariable(ClaimMappings.KEY, prefetched);
        }
        Map<String, Object> payload = json.readValue((String) row.get("payload"), MAP);
        m.setBody(((Map<?, ?>) payload.get("data")).get("object"));
    }

    static String topic(String type) {
        String[] parts = type.split("\\.", 3);
        return parts.length < 2 ? type : parts[0] + "." + parts[1];
    }
}
