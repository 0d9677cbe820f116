package dev.calsync.nylas;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.inbound.StorableText;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.MASTER_EVENT_ID;

/**
 * Prepares the camel-http headers of Nylas API calls: method, URL-encoded path and query, and the bearer key.
 * The key comes from {@code NYLAS_API_KEY} and is set only on the outgoing request, never logged.
 */
@Component("nylasRequests")
public class NylasRequests {

    private final String apiKey;
    private final java.time.Duration windowPast;
    private final java.time.Duration windowFuture;
    private final dev.calsync.mapping.SyncMappings mappings;
    private final com.fasterxml.jackson.databind.ObjectMapper json;

    public NylasRequests(CalsyncProperties properties, com.fasterxml.jackson.databind.ObjectMapper json,
                         dev.calsync.mapping.SyncMappings mappings) {
        this.mappings = mappings;
        this.apiKey = properties.nylas().apiKey();
        this.windowPast = properties.reconcile().windowPast();
        this.windowFuture = properties.reconcile().windowFuture();
        this.json = json.copy().configure(
                com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    }

    /** {@code GET /v3/grants/{grant}/events/{id}?calendar_id=...} for the event stub in the body. */
    public void getEvent(Exchange exchange) {
        Map<?, ?> event = exchange.getMessage().getBody(Map.class);
        Object calendar = event.get("calendar_id");
        prepare(exchange, "GET", eventPath((String) event.get("grant_id"), (String) event.get("id")),
                calendar == null ? null : "calendar_id=" + encode(calendar.toString()));
        exchange.getMessage().setHeader(GRANT_ID, event.get("grant_id"));
        exchange.getMessage().setBody(null);
    }

    /**
     * The event of a {@code GET} answer ({@code data}), or null when Nylas answered 404 (the event is gone). Any
     * other status fails with {@link NylasApiException}, so the notification is retried.
     */
    public Map<String, Object> eventOrNull(Exchange exchange) throws java.io.IOException {
        String body = checked(exchange);
        // text PostgreSQL cannot store (NUL, unpaired surrogates) is synced as U+FFFD
        return body == null ? null : StorableText.cleanValue(json.readValue(body,
                new com.fasterxml.jackson.core.type.TypeReference<Envelope>() {
                }).data());
    }

    /** The event a create answered; a 404 here (unknown grant or calendar) is a refusal, not "gone". */
    public Map<String, Object> createdEvent(Exchange exchange) throws java.io.IOException {
        Map<String, Object> event = eventOrNull(exchange);
        if (event == null || event.get("id") == null) {
            throw new NylasApiException(exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, 0, Integer.class),
                    "create answered without an event");
        }
        return event;
    }

    /** The events of a list answer (empty for a 404). */
    public java.util.List<Map<String, Object>> events(Exchange exchange) throws java.io.IOException {
        String body = checked(exchange);
        if (body == null) {
            return java.util.List.of();
        }
        java.util.List<Map<String, Object>> data = json.readValue(body,
                new com.fasterxml.jackson.core.type.TypeReference<ListEnvelope>() {
                }).data();
        return data == null ? java.util.List.of() : StorableText.cleanValue(data);
    }

    /**
     * Inside the circuit breaker: a 5xx fails the call (and counts against Nylas' health); other answers pass
     * on to the step that reads them.
     */
    public void throwIfRetryable(Exchange exchange) {
        int status = exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, 0, Integer.class);
        if (status != 429 && NylasApiException.retryable(status)) {
            checked(exchange);
        }
    }

    /** After the circuit breaker: a 429 throws {@link NylasThrottledException} (retried, never counted as failure). */
    public void throwIfThrottled(Exchange exchange) {
        if (exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, 0, Integer.class) == 429) {
            checked(exchange);
        }
    }

    /** True when the delete was done now or before (404). */
    public boolean deleted(Exchange exchange) {
        checked(exchange);
        return true;
    }

    /**
     * The body of a 200, or null for a 404. A 429 or 5xx throws {@link NylasRetryableException} (carrying the
     * Retry-After delay when there is one), anything else {@link NylasApiException}.
     */
    public String checked(Exchange exchange) {
        Message m = exchange.getMessage();
        int status = m.getHeader(Exchange.HTTP_RESPONSE_CODE, 0, Integer.class);
        String body = m.getBody(String.class);
        if (status >= 200 && status < 300) {
            return body == null ? "{}" : body;
        }
        if (status == 404) {
            return null;
        }
        String type = null;
        try {
            type = json.readTree(body == null ? "{}" : body).path("error").path("type").asText(null);
        } catch (java.io.IOException | RuntimeException e) {
            // not a Nylas error envelope: the status alone is reported
        }
        if (!NylasApiException.retryable(status)) {
            throw new NylasApiException(status, type);
        }
        Long retryAfter = retryAfterMillis(m.getHeader("Retry-After", String.class));
        if (status == 429) {
            throw new NylasThrottledException(type, retryAfter);
        }
        throw new NylasRetryableException(status, type, retryAfter);
    }

    static Long retryAfterMillis(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        try {
            return Math.max(0, Long.parseLong(value.trim())) * 1000;
        } catch (NumberFormatException e) {
            try {
                long at = java.time.ZonedDateTime.parse(value.trim(),
                        java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
                return Math.max(0, at - System.currentTimeMillis());
            } catch (java.time.format.DateTimeParseException ignored) {
                return null;
            }
        }
    }

    record Envelope(Map<String, Object> data) {
    }

    record ListEnvelope(java.util.List<Map<String, Object>> data) {
    }

    /** Sets method, path, query and bearer key of a call; the body, if any, stays as the exchange body. */
    public void prepare(Exchange exchange, String method, String path, String query) {
        Message m = exchange.getMessage();
        // an inbound request's own URI headers would redirect the call
        m.removeHeaders("CamelHttp(Uri|Url|RawQuery)");
        m.setHeader(Exchange.HTTP_METHOD, method);
        m.setHeader(Exchange.HTTP_PATH, path);
        m.setHeader(Exchange.HTTP_QUERY, query);
        m.setHeader("Authorization", "Bearer " + apiKey);
        m.setHeader(Exchange.CONTENT_TYPE, "application/json");
    }

    /**
     * {@code GET /v3/grants/{grant}/events?calendar_id&master_event_id&expand_recurring=true&show_cancelled=true
     * &limit=200&start&end[&page_token]}: one page of a series' occurrences, cancelled ones included, over the
     * reconciliation window; {@code expand_recurring} is always sent (its default is documented both ways). The series
     * is the variable {@code CalsyncMasterEventId}, the page token the variable {@code seriesPage} (empty: the first
     * page).
     */
    public void listSeries(Exchange exchange) {
        Message m = exchange.getMessage();
        long[] window = seriesWindow();
        String token = exchange.getVariable("seriesPage", String.class);
        prepare(exchange, "GET", "/v3/grants/" + encode(m.getHeader(GRANT_ID, String.class)) + "/events",
                "calendar_id=" + encode(m.getHeader(CALENDAR_ID, String.class)) + "&master_event_id="
                        + encode(exchange.getVariable(MASTER_EVENT_ID, String.class))
                        + "&expand_recurring=true&show_cancelled=true&limit=200&start=" + window[0] + "&end="
                        + window[1]
                        + (token == null || token.isEmpty() ? "" : "&page_token=" + encode(token)));
        m.setBody(null);
    }

    /** The window a series is listed over (Unix s): the reconciliation window around now. */
    public long[] seriesWindow() {
        long now = java.time.Instant.now().getEpochSecond();
        return new long[] {now - windowPast.toSeconds(), now + windowFuture.toSeconds()};
    }

    /** A listing's answer: {@code data} and {@code next_cursor}; a 404 is an empty last page. */
    public Map<String, Object> page(Exchange exchange) throws java.io.IOException {
        String body = checked(exchange);
        if (body == null) {
            return Map.of();
        }
        return StorableText.cleanValue(json.readValue(body,
                new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {
                }));
    }

    /** {@code POST /v3/grants/{grant}/events?calendar_id=...&notify_participants=false}. */
    public void createEvent(Exchange exchange) throws java.io.IOException {
        Message m = exchange.getMessage();
        String body = json.writeValueAsString(m.getBody());
        prepare(exchange, "POST", "/v3/grants/" + encode(m.getHeader(GRANT_ID, String.class)) + "/events",
                "calendar_id=" + encode(m.getHeader(CALENDAR_ID, String.class)) + "&notify_participants=false");
        m.setBody(body);
    }

    /** {@code PUT /v3/grants/{grant}/events/{id}?calendar_id=...&notify_participants=false}. */
    public void updateEvent(Exchange exchange) throws java.io.IOException {
        Message m = exchange.getMessage();
        String body = json.writeValueAsString(m.getBody());
        prepare(exchange, "PUT", eventPath(m.getHeader(GRANT_ID, String.class),
                        m.getHeader(EVENT_ID, String.class)),
                "calendar_id=" + encode(m.getHeader(CALENDAR_ID, String.class)) + "&notify_participants=false");
        m.setBody(body);
    }

    /**
     * {@code DELETE /v3/grants/{grant}/events/{id}?calendar_id=...&notify_participants=false}: a delete made in the
     * application e-mails no cancellation, like every other write of the sync.
     */
    public void deleteEvent(Exchange exchange) {
        Message m = exchange.getMessage();
        prepare(exchange, "DELETE", eventPath(m.getHeader(GRANT_ID, String.class),
                        m.getHeader(EVENT_ID, String.class)),
                "calendar_id=" + encode(m.getHeader(CALENDAR_ID, String.class)) + "&notify_participants=false");
        m.setBody(null);
    }

    /**
     * {@code GET /v3/grants/{grant}/events?calendar_id=...&metadata_pair=key1:<record id>&start=&end=}: finds our
     * events. Whether Nylas applies its default window (now to a month ahead) to a metadata filter is not
     * documented, so a window is always sent: the union of the windows of every create sent for the record (kept
     * by the mapping) and of the record's own time, a day either side; when neither is known, the reconciliation
     * window.
     */
    public void findByRecord(Exchange exchange) {
        Message m = exchange.getMessage();
        String recordId = m.getHeader(RECORD_ID, String.class);
        long[] window = union(window(m.getBody() instanceof Map<?, ?> body ? body.get("when") : null),
                mappings.createdWindow(recordId));
        if (window == null) {
            long now = java.time.Instant.now().getEpochSecond();
            window = new long[] {now - windowPast.toSeconds(), now + windowFuture.toSeconds()};
        }
        prepare(exchange, "GET", "/v3/grants/" + encode(m.getHeader(GRANT_ID, String.class)) + "/events",
                "calendar_id=" + encode(m.getHeader(CALENDAR_ID, String.class)) + "&metadata_pair="
                        + encode("key1:" + recordId) + "&limit=50" + "&start=" + window[0] + "&end=" + window[1]);
        m.setBody(null);
    }

    private static long[] union(long[] a, long[] b) {
        if (a == null || b == null) {
            return a == null ? b : a;
        }
        return new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])};
    }

    /** [start, end) in Unix seconds around an event's {@code when}, a day either side; null when unknown. */
    public static long[] window(Object when) {
        long day = 86_400;
        if (when instanceof Map<?, ?> w) {
            Long from = seconds(w.get("start_time"), w.get("time"), w.get("start_date"), w.get("date"));
            Long to = seconds(w.get("end_time"), w.get("time"), w.get("end_date"), w.get("date"));
            if (from != null && to != null) {
                return new long[] {from - day, to + day};
            }
        }
        return null;
    }

    private static Long seconds(Object... candidates) {
        for (Object c : candidates) {
            if (c instanceof Number n) {
                return n.longValue();
            }
            if (c instanceof String date) {
                try {
                    return java.time.LocalDate.parse(date).atStartOfDay(java.time.ZoneOffset.UTC).toEpochSecond();
                } catch (java.time.format.DateTimeParseException e) {
                    return null;
                }
            }
        }
        return null;
    }

    public static String eventPath(String grantId, String eventId) {
        return "/v3/grants/" + encode(grantId) + "/events/" + encode(eventId);
    }

    /** One URL path segment or query value, percent-encoded (Nylas event ids may contain reserved characters). */
    public static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
