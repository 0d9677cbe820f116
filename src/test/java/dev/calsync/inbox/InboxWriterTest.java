package dev.calsync.inbox;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import dev.calsync.api.Rejection;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.support.EmbeddedServers;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.jdbc.DataSourceProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The inbox writer's contract: a request is answered only after the commit that holds its row; many concurrent rows
 * share commits; a row not committed within the store timeout is a 503, and committing it later harms nothing.
 */
class InboxWriterTest {

    private String url;
    private JdbcTemplate db;
    private InboxWriter writer;

    @BeforeEach
    void database() {
        url = EmbeddedServers.newDatabase("inbox_writer");
        Flyway.configure().dataSource(url, "postgres", "postgres").locations("classpath:calsync/db/migration").load().migrate();
        db = new JdbcTemplate(new DriverManagerDataSource(url, "postgres", "postgres"));
    }

    @AfterEach
    void stop() {
        if (writer != null) {
            writer.stop();
        }
    }

    private InboxWriter start(String storeTimeout) {
        DataSourceProperties dataSource = new DataSourceProperties();
        dataSource.setUrl(url);
        dataSource.setUsername("postgres");
        dataSource.setPassword("postgres");
        CalsyncProperties properties = new Binder(new MapConfigurationPropertySource(
                Map.of("calsync.webhook.store-timeout", storeTimeout)))
                .bindOrCreate("calsync", CalsyncProperties.class);
        writer = new InboxWriter(dataSource, properties);
        writer.start();
        return writer;
    }

    private static InboxWriter.Row row(String id) {
        return new InboxWriter.Row(id, "event.created", "grant-1", "evt-" + id, "event/grant-1/evt-" + id,
                Timestamp.from(Instant.parse("2026-11-30T10:00:00Z")), "{\"id\":\"" + id + "\",\"note\":\"\u00e9\"}");
    }

    @Test
    void concurrentRequestsAreEachAnsweredAfterTheirRowIsCommittedAndRepeatsAreKnown() throws Exception {
        InboxWriter writer = start("5s");
        ExecutorService requests = Executors.newFixedThreadPool(48);
        try {
            List<CompletableFuture<Boolean>> answers = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                String id = "n-" + (i % 200); // 100 of the 300 repeat an id
                answers.add(CompletableFuture.supplyAsync(() -> {
                    boolean stored = writer.store(row(id));
                    // answered: the row is committed, visible to any other connection
                    assertThat(db.queryForObject("SELECT count(*) FROM webhook_inbox WHERE notification_id = ?",
                            Integer.class, id)).isEqualTo(1);
                    return stored;
                }, requests));
            }
            long stored = 0;
            for (CompletableFuture<Boolean> answer : answers) {
                if (answer.get(30, TimeUnit.SECONDS)) {
                    stored++;
                }
            }
            assertThat(stored).isEqualTo(200);
            // the rate processing yields to counts every row stored, repeats included
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(3))
                    .until(() -> writer.storedLastSecond() > 0);
            assertThat(db.queryForObject("SELECT count(*) FROM webhook_inbox", Integer.class)).isEqualTo(200);
            assertThat(db.queryForMap("SELECT type, grant_id, event_key, status, payload->>'note' AS note,"
                            + " notified_at = '2026-11-30T10:00:00Z' AS at FROM webhook_inbox WHERE notification_id = 'n-7'"))
                    .containsEntry("type", "event.created").containsEntry("grant_id", "grant-1")
                    .containsEntry("event_key", "event/grant-1/evt-n-7").containsEntry("status", "received")
                    .containsEntry("note", "\u00e9").containsEntry("at", true);
        } finally {
            requests.shutdownNow();
        }
    }

    @Test
    void aRowNotCommittedWithinTheTimeoutIs503AndItsLaterCommitMakesTheRepeatADuplicate() throws Exception {
        InboxWriter writer = start("700ms");
        try (Connection lock = DriverManager.getConnection(url, "postgres", "postgres")) {
            lock.setAutoCommit(false);
            try (Statement st = lock.createStatement()) {
                st.execute("LOCK TABLE webhook_inbox IN EXCLUSIVE MODE");
            }
            assertThatThrownBy(() -> writer.store(row("slow")))
                    .isInstanceOfSatisfying(Rejection.class, r -> assertThat(r.getStatus()).isEqualTo(503));
            lock.rollback();
        }
        // the insert went on once the lock was gone: Nylas' repeat finds the row
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() ->
                db.queryForObject("SELECT count(*) FROM webhook_inbox", Integer.class) == 1);
        assertThat(writer.store(row("slow"))).isFalse();
    }

    @Test
    void aRowPostgreSQLRefusesFailsAloneAndTheRowsThatSharedItsCommitAreStored() throws Exception {
        InboxWriter writer = start("10s");
        ExecutorService requests = Executors.newFixedThreadPool(24);
        try (Connection lock = DriverManager.getConnection(url, "postgres", "postgres")) {
            lock.setAutoCommit(false);
            try (Statement st = lock.createStatement()) {
                st.execute("LOCK TABLE webhook_inbox IN EXCLUSIVE MODE");
            }
            // while the writers wait on the lock, the rows pile up and go in multi-row commits once it is gone
            List<CompletableFuture<Boolean>> answers = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                String id = "first-" + i;
                answers.add(CompletableFuture.supplyAsync(() -> writer.store(row(id)), requests));
            }
            for (int i = 0; i < 20; i++) {
                String id = "shared-" + i;
                answers.add(CompletableFuture.supplyAsync(() -> writer.store(row(id)), requests));
            }
            InboxWriter.Row bad = new InboxWriter.Row("bad", "event.created", "grant-1", "evt-bad",
                    "event/grant-1/evt-bad", Timestamp.from(Instant.now()), "{\"id\":\"bad\"} trailing");
            CompletableFuture<Boolean> refused = CompletableFuture.supplyAsync(() -> writer.store(bad), requests);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> db.queryForObject(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            + " AND query LIKE 'INSERT INTO webhook_inbox%'", Integer.class) == 2 && writer.queued() > 0);
            lock.rollback();

            for (CompletableFuture<Boolean> answer : answers) {
                assertThat(answer.get(30, TimeUnit.SECONDS)).isTrue();
            }
            assertThatThrownBy(() -> refused.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(Rejection.class);
            assertThat(db.queryForObject("SELECT count(*) FROM webhook_inbox", Integer.class)).isEqualTo(22);
        } finally {
            requests.shutdownNow();
        }
    }
}
