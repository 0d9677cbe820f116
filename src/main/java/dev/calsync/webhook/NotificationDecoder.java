package dev.calsync.webhook;

import dev.calsync.api.Rejection;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.inbound.StorableText;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;
import org.springframework.beans.factory.annotation.Qualifier;

import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncVariables.EVENT_KEY;
import static dev.calsync.CalsyncVariables.NOTIFICATION_ID;
import static dev.calsync.CalsyncVariables.NOTIFICATION_TYPE;
import static dev.calsync.CalsyncVariables.NOTIFIED_AT;
import static dev.calsync.CalsyncVariables.OBJECT_ID;
import static dev.calsync.CalsyncVariables.PAYLOAD;

/**
 * Turns a verified webhook body into the variables (and the header {@code CalsyncGrantId}) the inbox insert needs.
 * Refuses (400) what is not a Nylas notification and (400, {@code notification_expired}) what is older than the
 * replay window; inflates gzip bodies with the same size cap as raw ones (413).
 */
@Component("notificationDecoder")
public class NotificationDecoder {

    static final int MAX_ID_LENGTH = 256;
    /** Unix times above this are milliseconds (10^11 s is the year 5138). */
    private static final long MILLIS_THRESHOLD = 100_000_000_000L;

    private final ObjectMapper json;
    private final Clock clock;
    private final long maxBytes;
    private final Duration replayWindow;
    private final Duration maxClockSkew;

    public NotificationDecoder(ObjectMapper json, @Qualifier("calsyncClock") Clock clock,
                               CalsyncProperties properties) {
        this.json = json;
        this.clock = clock;
        this.maxBytes = properties.webhook().maxBodySize().toBytes();
        this.replayWindow = properties.dedupe().ttl();
        this.maxClockSkew = properties.webhook().maxClockSkew();
    }

    public void decode(Exchange exchange) {
        Message in = exchange.getMessage();
        byte[] raw = in.getBody(byte[].class);
        if (raw == null || raw.length == 0) {
            throw new Rejection(400, "malformed_json", "body is empty");
        }
        String encoding = in.getHeader("Content-Encoding", "identity", String.class).trim();
        byte[] body;
        if (encoding.equalsIgnoreCase("gzip")) {
            body = gunzip(raw);
        } else if (encoding.isEmpty() || encoding.equalsIgnoreCase("identity")) {
            body = raw;
        } else {
            throw new Rejection(415, "unsupported_media_type", "Content-Encoding must be gzip or identity");
        }
        Notification n = parse(body);
        exchange.setVariable(NOTIFICATION_ID, n.id());
        exchange.setVariable(NOTIFICATION_TYPE, n.type());
        in.setHeader(GRANT_ID, n.grantId());
        exchange.setVariable(OBJECT_ID, n.objectId());
        exchange.setVariable(EVENT_KEY, n.eventKey());
        exchange.setVariable(NOTIFIED_AT, n.notifiedAt() == null ? null : Timestamp.from(n.notifiedAt()));
        exchange.setVariable(PAYLOAD, n.storable() == null ? new String(body, StandardCharsets.UTF_8) : n.storable());
    }

    Notification parse(byte[] body) {
        JsonNode root;
        try {
            // the whole body must be one JSON value: it is stored as jsonb, which refuses anything after it
            root = json.reader().with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .readTree(body);
        } catch (JsonProcessingException e) {
            throw new Rejection(400, "malformed_json", "body is not valid JSON");
        } catch (IOException e) {
            throw new Rejection(400, "malformed_json", "body could not be read");
        }
        if (root == null || !root.isObject()) {
            throw new Rejection(400, "invalid_notification", "body must be a JSON object");
        }
        // NUL and unpaired surrogates cannot be stored by PostgreSQL: stored (and synced) as U+FFFD instead, in
        // every field, the ids and type included
        String storable = null;
        if (mayNeedCleaning(body) && StorableText.needsCleaning(root)) {
            root = StorableText.clean(root);
            try {
                storable = json.writeValueAsString(root);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        String id = text(root.get("id"));
        if (id == null) {
            throw new Rejection(400, "invalid_notification", "field id must be a non-empty string");
        }
        if (id.length() > MAX_ID_LENGTH) {
            throw new Rejection(400, "invalid_notification", "field id is longer than " + MAX_ID_LENGTH);
        }
        String type = text(root.get("type"));
        if (type == null) {
            throw new Rejection(400, "invalid_notification", "field type must be a non-empty string");
        }
        JsonNode object = root.path("data").get("object");
        if (object == null || !object.isObject()) {
            throw new Rejection(400, "invalid_notification", "field data.object must be a JSON object");
        }
        Instant notifiedAt = notifiedAt(root.get("time"));
        if (notifiedAt == null) {
            // without it the replay window cannot apply: an old notification could be replayed at any time
            throw new Rejection(400, "invalid_notification", "field time must be a Unix time");
        }
        Instant now = clock.instant();
        if (notifiedAt.isBefore(now.minus(replayWindow))) {
            throw new Rejection(400, "notification_expired",
                    "field time is older than the " + replayWindow.toHours() + " h replay window");
        }
        if (notifiedAt.isAfter(now.plus(maxClockSkew))) {
            throw new Rejection(400, "notification_from_the_future",
                    "field time is more than " + maxClockSkew.toSeconds() + " s ahead of this service's clock");
        }
        String grantId = text(object.get("grant_id"));
        String objectId = text(object.get("id"));
        return new Notification(id, type, grantId, objectId, eventKey(type, grantId, objectId), notifiedAt, storable);
    }

    /**
     * False when the body cannot hold text PostgreSQL refuses, so the tree need not be walked for it: such text
     * arrives either escaped ({@code \u0000}, {@code \ud800}) or as the UTF-8 bytes of a surrogate (lead byte
     * {@code 0xED}); a raw NUL byte is not valid JSON and never gets this far.
     */
    static boolean mayNeedCleaning(byte[] body) {
        for (int i = 0; i < body.length; i++) {
            byte b = body[i];
            if (b == (byte) 0xED || (b == '\\' && i + 1 < body.length && body[i + 1] == 'u')) {
                return true;
            }
        }
        return false;
    }

    /**
     * Notifications about one event (or, for grant notifications, one grant) share a key so they are never
     * processed at the same time.
     */
    static String eventKey(String type, String grantId, String objectId) {
        if (type.startsWith("grant.")) {
            return grantId == null ? null : "grant/" + grantId;
        }
        return grantId == null || objectId == null ? null : "event/" + grantId + "/" + objectId;
    }

    private static Instant notifiedAt(JsonNode time) {
        if (time == null || !time.isIntegralNumber() || time.asLong() <= 0) {
            return null;
        }
        long value = time.asLong();
        return value > MILLIS_THRESHOLD ? Instant.ofEpochMilli(value) : Instant.ofEpochSecond(value);
    }

    private static String text(JsonNode node) {
        return node != null && node.isTextual() && !node.asText().isBlank() ? node.asText() : null;
    }

    private byte[] gunzip(byte[] raw) {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
            if (body.length > maxBytes) {
                throw new Rejection(413, "payload_too_large", "inflated body exceeds " + maxBytes + " bytes");
            }
            return body;
        } catch (ZipException | java.io.EOFException e) {
            throw new Rejection(400, "malformed_gzip", "Content-Encoding is gzip but the body is not");
        } catch (IOException e) {
            throw new Rejection(400, "malformed_gzip", "gzip body could not be read");
        }
    }

    /** {@code storable}: the body to store when the received one holds text PostgreSQL cannot store, else null. */
    record Notification(String id, String type, String grantId, String objectId, String eventKey,
                        Instant notifiedAt, String storable) {
    }
}
