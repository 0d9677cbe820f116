package dev.calsync.nylas;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

/**
 * Prepares the camel-http headers of Nylas API calls: method, URL-encoded path and query, and the bearer key.
 * The key comes from {@code NYLAS_API_KEY} and is set only on the outgoing request, never logged.
 */
@Component("nylasRequests")
public class NylasRequests {

    private final String apiKey;
    private final com.fasterxml.jackson.databind.ObjectMapper json;

    public NylasRequests(CalsyncProperties properties, com.fasterxml.jackson.databind.ObjectMapper json) {
        this.apiKey = properties.nylas().apiKey();
        this.json = json.copy().configure(
                com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    }

    /** {@code GET /v3/grants/{grant}/events/{id}?calendar_id=...} for the event stub in the body. */
    public void getEvent(Exchange exchange) {
        Map<?, ?> event = exchange.getMessage().getBody(Map.class);
        Message m = exchange.getMessage();
        m.setHeader(Exchange.HTTP_METHOD, "GET");
        m.setHeader(Exchange.HTTP_PATH, eventPath((String) event.get("grant_id"), (String) event.get("id")));
        Object calendar = event.get("calendar_id");
        m.setHeader(Exchange.HTTP_QUERY, calendar == null ? null : "calendar_id=" + encode(calendar.toString()));
        m.setHeader("Authorization", "Bearer " + apiKey);
        m.setBody(null);
    }

    /**
     * The event of a {@code GET} answer ({@code data}), or null when Nylas answered 404 (the event is gone). Any
     * other status fails with {@link NylasApiException}, so the notification is retried.
     */
    public Map<String, Object> eventOrNull(Exchange exchange) throws java.io.IOException {
        Message m = exchange.getMessage();
        int status = m.getHeader(Exchange.HTTP_RESPONSE_CODE, 0, Integer.class);
        String body = m.getBody(String.class);
        if (status == 404) {
            return null;
        }
        if (status != 200) {
            String type = null;
            try {
                type = json.readTree(body == null ? "{}" : body).path("error").path("type").asText(null);
            } catch (java.io.IOException e) {
                // not a Nylas error envelope: the status alone is reported
            }
            throw new NylasApiException(status, type);
        }
        return json.readValue(body, new com.fasterxml.jackson.core.type.TypeReference<Envelope>() {
        }).data();
    }

    record Envelope(Map<String, Object> data) {
    }

    public static String eventPath(String grantId, String eventId) {
        return "/v3/grants/" + encode(grantId) + "/events/" + encode(eventId);
    }

    /** One URL path segment or query value, percent-encoded (Nylas event ids may contain reserved characters). */
    public static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
