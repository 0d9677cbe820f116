package dev.calsync.webhook;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import dev.calsync.support.IntegrationTest;
import dev.calsync.support.Notifications;
import dev.calsync.support.Signing;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The webhook's HTTP contract: challenge, signature, content checks, and what each refusal leaves behind. The same
 * on the webhook's own listener ({@link WebhookListenerEndpointTest}) and on the application's HTTP port
 * ({@link ServerPortWebhookEndpointTest}).
 */
abstract class WebhookEndpointContract extends IntegrationTest {

    private String createdNotification(String id) {
        return Notifications.envelope(id, "event.created", Notifications.event("grant-1", "evt-1", "Standup", 100));
    }

    private void assertNothingStored() {
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isZero();
        assertThat(redis.keys("calsync:*")).isEmpty();
    }

    @Test
    void challengeIsEchoedAsPlainText() {
        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl("?challenge=abc-123_XYZ"))
                .GET().build());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo("abc-123_XYZ");
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/plain"));
        assertNothingStored();
    }

    @Test
    void challengeWithoutValueIsABadRequest() {
        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl("")).GET().build());

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"missing_challenge\"");
    }

    @Test
    void signedNotificationIsStoredAndAcknowledged() {
        String id = Notifications.newId();

        HttpResponse<String> response = deliver(createdNotification(id));

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo("{\"status\":\"accepted\"}");
        assertThat(notificationRow(id)).containsEntry("type", "event.created").containsEntry("grant_id", "grant-1");
        // the inbox is the dedupe; Redis is only asked with calsync.dedupe.redis-prefilter on (RedisPrefilterTest)
        assertThat(redis.hasKey("calsync:notification:" + id)).isFalse();
    }

    @Test
    void notificationSignedWithTheRotatedSecretIsAccepted() {
        String body = createdNotification(Notifications.newId());

        HttpResponse<String> response = deliver(body, Signing.sign(body.getBytes(StandardCharsets.UTF_8),
                ROTATED_SECRET));

        assertThat(response.statusCode()).isEqualTo(200);
    }

    @Test
    void missingSignatureIsRefusedAndLeavesNothing() {
        HttpResponse<String> response = deliver(createdNotification(Notifications.newId()), null);

        assertThat(response.statusCode()).isEqualTo(401);
        assertThat(response.body()).contains("\"error\":\"invalid_signature\"");
        assertNothingStored();
    }

    @Test
    void signatureWithAnotherSecretIsRefusedAndLeavesNothing() {
        String body = createdNotification(Notifications.newId());

        HttpResponse<String> response = deliver(body, Signing.sign(body.getBytes(StandardCharsets.UTF_8), "forged"));

        assertThat(response.statusCode()).isEqualTo(401);
        assertNothingStored();
    }

    @Test
    void tamperedBodyIsRefusedAndLeavesNothing() {
        String body = createdNotification(Notifications.newId());
        String signature = Signing.sign(body.getBytes(StandardCharsets.UTF_8), SECRET);

        HttpResponse<String> response = deliver(body.replace("Standup", "Standup!"), signature);

        assertThat(response.statusCode()).isEqualTo(401);
        assertNothingStored();
    }

    @Test
    void signatureThatIsNotHexIsRefused() {
        HttpResponse<String> response = deliver(createdNotification(Notifications.newId()), "not-a-signature");

        assertThat(response.statusCode()).isEqualTo(401);
        assertNothingStored();
    }

    @Test
    void formEncodedBodyIsUnsupportedMediaType() {
        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("id=1&type=event.created")).build());

        assertThat(response.statusCode()).isEqualTo(415);
        assertThat(response.body()).contains("\"error\":\"unsupported_media_type\"");
        assertNothingStored();
    }

    @Test
    void signedBodyThatIsNotJsonIsABadRequest() {
        HttpResponse<String> response = deliver("{not json");

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"malformed_json\"");
        assertNothingStored();
    }

    @Test
    void aNotificationFollowedByMoreTextIsABadRequestNotAStoreFailure() {
        // Jackson alone would read the first value and ignore the rest; PostgreSQL's jsonb refuses the whole body
        HttpResponse<String> response = deliver(createdNotification(Notifications.newId()) + " {}");

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"malformed_json\"");
        assertNothingStored();
    }

    @Test
    void notificationWithoutIdTypeOrObjectIsABadRequest() {
        assertThat(deliver("{\"type\":\"event.created\",\"data\":{\"object\":{}}}").body()).contains("field id");
        assertThat(deliver("{\"id\":\"n1\",\"data\":{\"object\":{}}}").body()).contains("field type");
        HttpResponse<String> noObject = deliver("{\"id\":\"n1\",\"type\":\"event.created\",\"data\":{}}");

        assertThat(noObject.statusCode()).isEqualTo(400);
        assertThat(noObject.body()).contains("data.object");
        assertNothingStored();
    }

    @Test
    void bodyOverTheLimitIsRefusedBeforeItIsRead() {
        byte[] body = new byte[2 * 1024 * 1024 + 1];
        Arrays.fill(body, (byte) ' ');

        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/json")
                .header("X-Nylas-Signature", Signing.sign(body, SECRET))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());

        assertThat(response.statusCode()).isEqualTo(413);
        assertNothingStored();
    }

    @Test
    void chunkedBodyOverTheLimitIsRefused() {
        byte[] body = new byte[2 * 1024 * 1024 + 10];
        Arrays.fill(body, (byte) ' ');

        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/json")
                .header("X-Nylas-Signature", Signing.sign(body, SECRET))
                // an InputStream publisher has no length, so the request is sent chunked
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build());

        assertThat(response.statusCode()).isEqualTo(413);
        assertNothingStored();
    }

    @Test
    void gzipBodyIsVerifiedOverTheCompressedBytesAndStored() throws IOException {
        String id = Notifications.newId();
        byte[] compressed = gzip(createdNotification(id).getBytes(StandardCharsets.UTF_8));

        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .header("X-Nylas-Signature", Signing.sign(compressed, SECRET))
                .POST(HttpRequest.BodyPublishers.ofByteArray(compressed)).build());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(notificationRow(id)).isNotNull();
    }

    @Test
    void gzipBodyThatInflatesOverTheLimitIsRefused() throws IOException {
        byte[] inflated = new byte[3 * 1024 * 1024];
        Arrays.fill(inflated, (byte) ' ');
        byte[] compressed = gzip(inflated);

        HttpResponse<String> response = send(HttpRequest.newBuilder(webhookUrl(""))
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .header("X-Nylas-Signature", Signing.sign(compressed, SECRET))
                .POST(HttpRequest.BodyPublishers.ofByteArray(compressed)).build());

        assertThat(compressed.length).isLessThan(2 * 1024 * 1024);
        assertThat(response.statusCode()).isEqualTo(413);
        assertNothingStored();
    }

    @Test
    void notificationOlderThanTheReplayWindowIsRefused() {
        long twoDaysAgo = Instant.now().minusSeconds(48 * 3600).getEpochSecond();
        String body = Notifications.envelope(Notifications.newId(), "event.created",
                Notifications.event("grant-1", "evt-1", "Old", 100), twoDaysAgo);

        HttpResponse<String> response = deliver(body);

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"notification_expired\"");
        assertNothingStored();
    }

    @Test
    void timeInMillisecondsIsAccepted() {
        String millis = Notifications.envelope(Notifications.newId(), "event.created",
                Notifications.event("grant-1", "evt-1", "A", 100), Instant.now().toEpochMilli());

        assertThat(deliver(millis).statusCode()).isEqualTo(200);
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
    }

    @Test
    void notificationWithoutTimeIsRefusedBecauseTheReplayWindowCannotApply() {
        String none = Notifications.envelope(Notifications.newId(), "event.created",
                Notifications.event("grant-1", "evt-2", "B", 100), null);

        HttpResponse<String> response = deliver(none);

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"invalid_notification\"").contains("time");
        assertNothingStored();
    }

    @Test
    void notificationFromTheFutureIsRefusedButSmallClockSkewIsNot() {
        String tomorrow = Notifications.envelope(Notifications.newId(), "event.created",
                Notifications.event("grant-1", "evt-1", "Later", 100), Instant.now().plusSeconds(86_400).getEpochSecond());
        String skewed = Notifications.envelope(Notifications.newId(), "event.created",
                Notifications.event("grant-1", "evt-2", "Skewed", 100), Instant.now().plusSeconds(30).getEpochSecond());

        HttpResponse<String> refused = deliver(tomorrow);

        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("\"error\":\"notification_from_the_future\"");
        assertThat(deliver(skewed).statusCode()).isEqualTo(200);
        assertThat(count("SELECT count(*) FROM webhook_inbox")).isEqualTo(1);
    }

    @Test
    void signedEmptyBodyIsABadRequest() {
        HttpResponse<String> response = deliver("");

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("\"error\":\"malformed_json\"");
        assertNothingStored();
    }

    @Test
    void textPostgresqlCannotStoreIsStoredWithReplacementCharacters() {
        String id = Notifications.newId();
        String body = createdNotification(id).replace("\"Standup\"", "\"Stand\\u0000up \\ud800 \\udc00x\"");

        HttpResponse<String> response = deliver(body);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(jdbc.queryForObject("SELECT payload #>> '{data,object,title}' FROM webhook_inbox", String.class))
                .isEqualTo("Stand\uFFFDup \uFFFD \uFFFDx");
        awaitStatus(id, "processed");
        assertThat(localRecordByEvent("grant-1", "evt-1")).containsEntry("title", "Stand\uFFFDup \uFFFD \uFFFDx");
    }

    @Test
    void idsWithTextPostgresqlCannotStoreAreStoredWithReplacementCharacters() {
        String body = createdNotification("ntf-odd").replace("\"ntf-odd\"", "\"ntf-\\u0000-odd\"")
                .replace("\"evt-1\"", "\"evt-\\ud800\"");

        HttpResponse<String> response = deliver(body);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(notificationRow("ntf-\uFFFD-odd")).containsEntry("object_id", "evt-\uFFFD");
    }

    @Test
    void validNonAsciiTextIsStoredVerbatim() {
        String id = Notifications.newId();
        String title = "Réunion 🎉 اجتماع שלום \uD83D\uDE00";
        String body = Notifications.envelope(id, "event.created", Notifications.event("grant-1", "evt-1", title, 100));

        assertThat(deliver(body).statusCode()).isEqualTo(200);
        assertThat(jdbc.queryForObject("SELECT payload #>> '{data,object,title}' FROM webhook_inbox", String.class))
                .isEqualTo(title);
        awaitStatus(id, "processed");
        assertThat(localRecordByEvent("grant-1", "evt-1")).containsEntry("title", title);
    }

    @Test
    void responsesDoNotEchoRequestHeaders() {
        HttpResponse<String> response = deliver(createdNotification(Notifications.newId()));

        assertThat(response.headers().map().keySet()).noneMatch(h -> h.equalsIgnoreCase("x-nylas-signature")
                || h.toLowerCase().startsWith("calsync"));
    }

    private static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }
}
