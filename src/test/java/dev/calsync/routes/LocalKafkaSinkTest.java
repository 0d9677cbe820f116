package dev.calsync.routes;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.kafka.test.EmbeddedKafkaKraftBroker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * calsync.local.sink=kafka (routes/local-kafka.camel.yaml) against a real Kafka broker (KRaft, in this JVM): every
 * calendar change is published once, keyed by record id, with its idempotency key; a delete is a tombstone; a send the
 * broker refuses fails the notification, which is retried, and leaves nothing behind.
 */
class LocalKafkaSinkTest {

    private static final String TOPIC = "calsync.events";
    private static final long SOON = Instant.now().getEpochSecond() + 3600;
    /** The topic takes messages up to this size: a larger one is refused by the broker. */
    private static final int MAX_MESSAGE_BYTES = 4096;

    private static EmbeddedKafkaKraftBroker broker;
    private static NylasSimulator nylas;
    private static RunningService service;
    private static final ObjectMapper JSON = new ObjectMapper();

    private KafkaConsumer<String, String> consumer;
    private final List<ConsumerRecord<String, String>> received = new ArrayList<>();

    @BeforeAll
    static void start() {
        broker = new EmbeddedKafkaKraftBroker(1, 1);
        broker.afterPropertiesSet();
        broker.addTopics(new NewTopic(TOPIC, 3, (short) 1)
                .configs(Map.of("max.message.bytes", String.valueOf(MAX_MESSAGE_BYTES))));
        nylas = new NylasSimulator("kafka-sink-key");
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("calsync.local.sink", "kafka");
        p.put("calsync.local.kafka.brokers", broker.getBrokersAsString());
        p.put("calsync.local.kafka.topic", TOPIC);
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", "kafka-sink-key");
        p.put("calsync.inbound.initial-backoff", "100ms");
        p.put("calsync.inbound.max-backoff", "200ms");
        p.put("calsync.inbound.max-attempts", "3");
        p.put("calsync.dedupe.redis-key-prefix", "calsync-kafka:notification");
        service = RunningService.start(EmbeddedServers.newDatabase("sink_kafka"), p);
        nylas.deliverWebhooksTo(IntegrationTest.SECRET, service.webhookUrl().toString());
        nylas.webhookRetryDelay(Duration.ofMillis(50), 3);
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
        if (nylas != null) {
            nylas.close();
        }
        if (broker != null) {
            broker.destroy();
        }
    }

    @BeforeEach
    void readTheTopicFromItsStart() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.getBrokersAsString());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        consumer = new KafkaConsumer<>(p);
        List<TopicPartition> partitions = consumer.partitionsFor(TOPIC).stream()
                .map(info -> new TopicPartition(TOPIC, info.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        nylas.faults.reset();
    }

    @AfterEach
    void closeConsumer() {
        consumer.close();
    }

    @Test
    void everyCalendarChangeIsPublishedOnceKeyedByRecordIdWithItsIdempotencyKey() throws Exception {
        // Given every webhook delivered two or three times at once
        nylas.faults.rateDuplicate = 1.0;
        nylas.faults.concurrentDuplicates = true;

        // When the calendar's user creates, edits and deletes an event
        String eventId = (String) nylas.userCreates("grant-k1", "primary", fields("Standup")).get("id");
        String recordId = await().atMost(Duration.ofSeconds(20)).until(() -> recordOf("grant-k1", eventId),
                id -> id != null && messagesFor(id).size() == 1);
        // the built-in store holds what was published (it stays the sync's record: read API, reconciliation)
        assertThat(service.jdbc().queryForObject("SELECT title FROM app_event WHERE id = ?", String.class, recordId))
                .isEqualTo("Standup");
        nylas.userUpdates("grant-k1", eventId, Map.of("title", "Standup (moved)"));
        await().atMost(Duration.ofSeconds(20)).until(() -> messagesFor(recordId).size() == 2);
        nylas.userDeletes("grant-k1", eventId);
        await().atMost(Duration.ofSeconds(20)).until(() -> messagesFor(recordId).size() == 3);
        awaitQuiet();

        // Then one message per change, in order, on the record's key
        List<ConsumerRecord<String, String>> messages = messagesFor(recordId);
        assertThat(nylas.webhookCount("duplicated")).isGreaterThanOrEqualTo(3);
        assertThat(messages).hasSize(3);
        assertThat(messages).extracting(ConsumerRecord::partition).containsOnly(messages.get(0).partition());
        assertThat(messages).extracting(m -> header(m, "calsync-change-type"))
                .containsExactly("upsert", "upsert", "delete");
        assertThat(messages).allSatisfy(m -> assertThat(headerNames(m))
                .containsExactlyInAnyOrder("calsync-change-type", "calsync-idempotency-key"));

        // each carries the idempotency key of its change: the notification's id and the action
        Map<String, String> notifications = service.jdbc().queryForList(
                "SELECT notification_id, type FROM webhook_inbox WHERE grant_id = 'grant-k1'").stream()
                .collect(Collectors.toMap(r -> (String) r.get("type"), r -> (String) r.get("notification_id")));
        assertThat(notifications).hasSize(3);
        assertThat(messages).extracting(m -> header(m, "calsync-idempotency-key")).containsExactly(
                notifications.get("event.created") + ":upsert", notifications.get("event.updated") + ":upsert",
                notifications.get("event.deleted") + ":delete");

        // an upsert is the record in the Nylas event shape; a delete is a tombstone
        Map<String, Object> created = readMap(messages.get(0).value());
        assertThat(created).containsEntry("id", recordId).containsEntry("grant_id", "grant-k1")
                .containsEntry("calendar_id", "primary").containsEntry("title", "Standup")
                .containsEntry("status", "confirmed").containsKeys("when", "participants", "description");
        assertThat(((Number) ((Map<?, ?>) created.get("when")).get("start_time")).longValue()).isEqualTo(SOON);
        assertThat(readMap(messages.get(1).value())).containsEntry("title", "Standup (moved)");
        assertThat(messages.get(2).value()).isNull();
        assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event WHERE id = ?", Integer.class,
                recordId)).isZero();
    }

    @Test
    void aWriteOfARecordDeletedMeanwhileIsNeitherStoredNorPublished() throws Exception {
        String eventId = (String) nylas.userCreates("grant-k2", "primary", fields("Retro")).get("id");
        String recordId = await().atMost(Duration.ofSeconds(20)).until(() -> recordOf("grant-k2", eventId),
                id -> id != null && messagesFor(id).size() == 1);
        nylas.userDeletes("grant-k2", eventId);
        await().atMost(Duration.ofSeconds(20)).until(() -> messagesFor(recordId).size() == 2);

        // a write planned before the delete and arriving after it
        Map<String, Object> late = new LinkedHashMap<>(fields("Written late"));
        late.put("id", recordId);
        late.put("grant_id", "grant-k2");
        late.put("calendar_id", "primary");
        service.bean(ProducerTemplate.class).sendBodyAndHeader("direct:calsync-local-upsert", late, "CalsyncRecordId",
                recordId);

        pollFor(Duration.ofSeconds(1));
        assertThat(messagesFor(recordId)).hasSize(2);
        assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event WHERE id = ?", Integer.class,
                recordId)).isZero();
    }

    @Test
    void aSendTheBrokerRefusesFailsTheNotificationAndLeavesNothingBehind() throws Exception {
        // Given an event too large for the topic
        Map<String, Object> tooLarge = new LinkedHashMap<>(fields("Offsite"));
        tooLarge.put("description", "x".repeat(2 * MAX_MESSAGE_BYTES));
        String eventId = (String) nylas.userCreates("grant-k3", "primary", tooLarge).get("id");

        // Then its notification is retried and ends as a dead letter, and the store rolled its write back
        await().atMost(Duration.ofSeconds(20)).until(() -> service.jdbc().queryForObject(
                "SELECT count(*) FROM webhook_inbox WHERE grant_id = 'grant-k3' AND status = 'dead'",
                Integer.class) == 1);
        Map<String, Object> dead = service.jdbc().queryForMap(
                "SELECT attempts, last_error FROM webhook_inbox WHERE grant_id = 'grant-k3'");
        assertThat(dead.get("attempts")).isEqualTo(3);
        assertThat((String) dead.get("last_error")).contains("RecordTooLarge");
        String recordId = recordOf("grant-k3", eventId);
        assertThat(recordId).isNotNull();
        assertThat(service.jdbc().queryForObject("SELECT count(*) FROM app_event WHERE id = ?", Integer.class,
                recordId)).isZero();
        pollFor(Duration.ofMillis(500));
        assertThat(messagesFor(recordId)).isEmpty();

        // When the user shortens it, the change is published under the same record id
        nylas.userUpdates("grant-k3", eventId, Map.of("description", "Agenda to follow"));
        await().atMost(Duration.ofSeconds(20)).until(() -> messagesFor(recordId).size() == 1);
        assertThat(readMap(messagesFor(recordId).get(0).value()))
                .containsEntry("description", "Agenda to follow");
        assertThat(service.jdbc().queryForObject("SELECT description FROM app_event WHERE id = ?", String.class,
                recordId)).isEqualTo("Agenda to follow");
    }

    @Test
    void theSinksRoutesReplaceTheBuiltInStoresAndReconciliationImportsOneByOne() {
        CamelContext camel = service.bean(CamelContext.class);

        assertThat(camel.getRoute("calsync-local-upsert").getDescription()).contains("Kafka");
        assertThat(camel.getRoute("calsync-local-delete").getDescription()).contains("Kafka");
        assertThat(camel.getRoute("calsync-local-upsert-batch")).isNull();
    }

    private static Map<String, Object> fields(String title) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", title);
        f.put("when", Map.of("start_time", SOON, "end_time", SOON + 1800));
        return f;
    }

    private static String recordOf(String grantId, String eventId) {
        List<String> ids = service.jdbc().queryForList(
                "SELECT internal_id FROM event_sync_map WHERE grant_id = ? AND nylas_event_id = ?", String.class,
                grantId, eventId);
        return ids.isEmpty() ? null : ids.get(0);
    }

    /** The messages read so far (after one more poll) whose key is this record id, in the order of their partition. */
    private List<ConsumerRecord<String, String>> messagesFor(String recordId) {
        pollFor(Duration.ofMillis(100));
        return received.stream().filter(m -> recordId.equals(m.key())).toList();
    }

    private void pollFor(Duration duration) {
        consumer.poll(duration).forEach(received::add);
    }

    private void awaitQuiet() {
        await().atMost(Duration.ofSeconds(20)).until(() -> nylas.webhooksQuiet() && service.jdbc().queryForObject(
                "SELECT count(*) FROM webhook_inbox WHERE status IN ('received', 'processing')", Integer.class) == 0);
        pollFor(Duration.ofMillis(500));
    }

    private static Map<String, Object> readMap(String json) throws java.io.IOException {
        return JSON.readValue(json, new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {
        });
    }

    private static String header(ConsumerRecord<String, String> message, String name) {
        Header h = message.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static Set<String> headerNames(ConsumerRecord<String, String> message) {
        return StreamSupport.stream(message.headers().spliterator(), false).map(Header::key)
                .collect(Collectors.toSet());
    }
}
