package dev.calsync.inbox;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.zaxxer.hikari.HikariDataSource;
import dev.calsync.api.Rejection;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.webhook.NotificationDecoder;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.autoconfigure.jdbc.DataSourceProperties;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncVariables.EVENT_KEY;
import static dev.calsync.CalsyncVariables.NOTIFICATION_ID;
import static dev.calsync.CalsyncVariables.NOTIFICATION_TYPE;
import static dev.calsync.CalsyncVariables.NOTIFIED_AT;
import static dev.calsync.CalsyncVariables.OBJECT_ID;
import static dev.calsync.CalsyncVariables.PAYLOAD;

/**
 * Stores acknowledged notifications in {@code webhook_inbox} with group commit: the rows of concurrent webhook
 * requests go into one multi-row {@code INSERT ... ON CONFLICT (notification_id) DO NOTHING}, and each request is
 * answered only after the commit that holds its row. One commit (one WAL flush) then serves many requests, and the
 * acknowledgement path holds a budget of connections of its own ({@code calsync.webhook.store-connections}), so
 * processing, pushes and reconciliation can never take the connections acknowledgements need.
 * <p>
 * A request that cannot be stored within {@code calsync.webhook.store-timeout}, or that finds the queue full, is
 * refused with {@code 503} and {@code Retry-After}: Nylas delivers it again. A row committed after its request was
 * answered 503 is harmless: the repeat finds it and is answered 200.
 * <p>
 * Written by hand because no library offers group commit with a reply per caller: Camel's aggregator batches
 * messages but answers none of their senders, and Spring's {@code batchUpdate} needs the batch handed to it by one
 * caller.
 */
@Component("inboxWriter")
public class InboxWriter implements SmartLifecycle {

    private static final Logger LOG = LoggerFactory.getLogger(InboxWriter.class);

    // One statement for every batch size (one server-side prepared statement); the arrays are in notification-id
    // order, so two writers always lock ids in the same order and cannot deadlock on each other's rows.
    static final String INSERT_SQL = """
            INSERT INTO webhook_inbox (notification_id, type, grant_id, object_id, event_key, notified_at, payload)
            SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::jsonb[])
            ON CONFLICT (notification_id) DO NOTHING
            RETURNING notification_id""";

    /** A notification's inbox row, as the decoder produced it. */
    public record Row(String id, String type, String grantId, String objectId, String eventKey, Timestamp notifiedAt,
                      String payload) {
    }

    private record Pending(Row row, CompletableFuture<Boolean> stored) {
    }

    private final DataSourceProperties dataSourceProperties;
    private final int connections;
    private final int batchSize;
    private final Duration timeout;
    private final BlockingQueue<Pending> queue;
    private final List<Thread> writers = new ArrayList<>();
    private volatile HikariDataSource dataSource;
    private volatile boolean running;
    // rows stored in the current second and in the one before it (ProcessingPriority reads the rate)
    private long windowSecond;
    private long windowRows;
    private long previousRows;

    public InboxWriter(DataSourceProperties dataSourceProperties, CalsyncProperties properties) {
        this.dataSourceProperties = dataSourceProperties;
        CalsyncProperties.Webhook webhook = properties.webhook();
        this.connections = webhook.storeConnections();
        this.batchSize = webhook.storeBatchSize();
        this.timeout = webhook.storeTimeout();
        this.queue = new ArrayBlockingQueue<>(webhook.maxInFlight());
    }

    /** The inbox row of a decoded notification (the variables and the header {@code NotificationDecoder} set). */
    public static Row row(Exchange exchange) {
        Message in = exchange.getMessage();
        return new Row(exchange.getVariable(NOTIFICATION_ID, String.class),
                exchange.getVariable(NOTIFICATION_TYPE, String.class),
                in.getHeader(GRANT_ID, String.class),
                exchange.getVariable(OBJECT_ID, String.class),
                exchange.getVariable(EVENT_KEY, String.class),
                exchange.getVariable(NOTIFIED_AT, Timestamp.class),
                exchange.getVariable(PAYLOAD, String.class));
    }

    /**
     * Stores the row and waits for the commit that holds it: true when this call stored it, false when a row with its
     * id was already there. Throws a 503 {@link Rejection} when it is not stored in time.
     */
    public boolean store(Row row) {
        if (!running) {
            throw unavailable("the service is stopping");
        }
        Pending pending = new Pending(row, new CompletableFuture<>());
        if (!queue.offer(pending)) {
            throw unavailable("too many notifications are waiting to be stored");
        }
        try {
            return pending.stored().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw unavailable("the notification could not be stored within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw unavailable("the notification could not be stored");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw unavailable("interrupted while storing");
        }
    }

    private static Rejection unavailable(String message) {
        return new Rejection(503, "unavailable", message + "; retry later");
    }

    // ------------------------------------------------------------------------------------------- writer threads

    private void write() {
        List<Pending> batch = new ArrayList<>(batchSize);
        while (running || !queue.isEmpty()) {
            try {
                Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, batchSize - 1);
                commit(batch);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                LOG.error("Inbox writer failed", e);
                batch.forEach(p -> p.stored().completeExceptionally(e));
            } finally {
                batch.clear();
            }
        }
    }

    private void commit(List<Pending> batch) {
        batch.sort(Comparator.comparing(p -> p.row().id()));
        int n = batch.size();
        Object[] ids = new Object[n];
        Object[] types = new Object[n];
        Object[] grants = new Object[n];
        Object[] objects = new Object[n];
        Object[] keys = new Object[n];
        Object[] times = new Object[n];
        Object[] payloads = new Object[n];
        for (int i = 0; i < n; i++) {
            Row r = batch.get(i).row();
            ids[i] = r.id();
            types[i] = r.type();
            grants[i] = r.grantId();
            objects[i] = r.objectId();
            keys[i] = r.eventKey();
            times[i] = r.notifiedAt() == null ? null : r.notifiedAt().toInstant().toString();
            payloads[i] = r.payload();
        }
        Set<String> inserted = new HashSet<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement insert = c.prepareStatement(INSERT_SQL)) {
            // twice the requests' wait: a database that stopped answering frees the writer; the requests are 503 by then
            insert.setQueryTimeout((int) ((2 * timeout.toMillis() + 999) / 1000));
            Object[][] columns = {ids, types, grants, objects, keys, times, payloads};
            for (int i = 0; i < columns.length; i++) {
                insert.setArray(i + 1, c.createArrayOf("text", columns[i]));
            }
            try (ResultSet rs = insert.executeQuery()) {
                while (rs.next()) {
                    inserted.add(rs.getString(1));
                }
            }
        } catch (SQLException e) {
            if (n > 1 && isDataError(e)) {
                // one row PostgreSQL refuses must not fail the others that shared its commit: each on its own
                List<Pending> rows = new ArrayList<>(batch);
                for (Pending p : rows) {
                    commit(new ArrayList<>(List.of(p)));
                }
                return;
            }
            LOG.warn("Could not store {} notification(s) (SQLState {}; answered 503, Nylas delivers them again)", n,
                    e.getSQLState());
            batch.forEach(p -> p.stored().completeExceptionally(e));
            return;
        }
        // autocommit: the rows are committed here; a repeat of an id within the batch is the known one
        counted(n);
        for (Pending p : batch) {
            p.stored().complete(inserted.remove(p.row().id()));
        }
    }

    /** Data exceptions (22) and integrity violations (23): the rows' fault, not the database's availability. */
    static boolean isDataError(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    // ------------------------------------------------------------------------------------------- lifecycle

    @Override
    public void start() {
        HikariDataSource ds = dataSourceProperties.initializeDataSourceBuilder().type(HikariDataSource.class).build();
        ds.setPoolName("calsync-inbox-writer");
        ds.setMaximumPoolSize(connections);
        ds.setMinimumIdle(connections);
        ds.setConnectionTimeout(Math.max(250, Math.min(3_000, timeout.toMillis() / 2)));
        ds.setAutoCommit(true);
        dataSource = ds;
        running = true;
        for (int i = 0; i < connections; i++) {
            Thread t = new Thread(this::write, "calsync-inbox-writer-" + i);
            t.setDaemon(true);
            t.start();
            writers.add(t);
        }
    }

    /** After the web server stopped taking requests: what is queued is still written, then the pool closes. */
    @Override
    public void stop() {
        running = false;
        for (Thread t : writers) {
            try {
                t.join(timeout.toMillis() + 1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        writers.clear();
        Pending left;
        while ((left = queue.poll()) != null) {
            left.stored().completeExceptionally(new IllegalStateException("stopped"));
        }
        if (dataSource != null) {
            dataSource.close();
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /** Started before, and stopped after, the web server (its phase is lower) and Camel's routes. */
    @Override
    public int getPhase() {
        return Integer.MIN_VALUE + 1000;
    }

    /** Notifications waiting for a writer (for tests). */
    int queued() {
        return queue.size();
    }

    private synchronized void counted(int rows) {
        long second = System.currentTimeMillis() / 1000;
        if (second != windowSecond) {
            previousRows = second == windowSecond + 1 ? windowRows : 0;
            windowSecond = second;
            windowRows = 0;
        }
        windowRows += rows;
    }

    /** Notifications stored (new or repeated) in the last whole second. */
    public synchronized long storedLastSecond() {
        long second = System.currentTimeMillis() / 1000;
        if (second == windowSecond) {
            return previousRows;
        }
        return second == windowSecond + 1 ? windowRows : 0;
    }
}
