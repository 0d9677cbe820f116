package dev.calsync.inbox;

import dev.calsync.webhook.FailOpenIdempotentRepository;
import org.apache.camel.Exchange;
import org.apache.camel.spi.IdempotentRepository;
import org.apache.camel.support.service.ServiceSupport;

/**
 * The webhook's idempotent repository is the inbox itself: adding a notification id stores the notification's row
 * ({@link InboxWriter}, group commit) and answers false when a row with that id is already there, so a repeat is
 * acknowledged without a second row. The key is durable the moment the request is answered, in the same commit as
 * the row (a cache in front of the database could not promise that).
 * <p>
 * With {@code calsync.dedupe.redis-prefilter} on, Redis is asked first: an id it knows is answered as a duplicate
 * without touching the database, and a stored id is remembered there after its commit. Redis failing or slow
 * changes nothing but speed ({@link FailOpenIdempotentRepository}).
 */
public class InboxIdempotentRepository extends ServiceSupport implements IdempotentRepository {

    private final InboxWriter writer;
    private final FailOpenIdempotentRepository redis;

    /** {@code redis}: the pre-filter, or null without one. */
    public InboxIdempotentRepository(InboxWriter writer, FailOpenIdempotentRepository redis) {
        this.writer = writer;
        this.redis = redis;
    }

    @Override
    public boolean add(Exchange exchange, String key) {
        if (redis != null && redis.contains(key)) {
            return false;
        }
        boolean stored = writer.store(InboxWriter.row(exchange));
        if (redis != null) {
            redis.add(key);
        }
        return stored;
    }

    @Override
    public boolean add(String key) {
        throw new UnsupportedOperationException("the inbox stores a notification, not a bare id: use add(exchange, key)");
    }

    @Override
    public boolean contains(String key) {
        throw new UnsupportedOperationException("the inbox answers on add (eager idempotent consumer only)");
    }

    /** A stored notification is never taken back: a failure after the commit is answered 503 and delivered again. */
    @Override
    public boolean remove(String key) {
        return false;
    }

    @Override
    public boolean confirm(String key) {
        return true;
    }

    @Override
    public void clear() {
        throw new UnsupportedOperationException("the inbox is not cleared through the idempotent consumer");
    }

    @Override
    protected void doStart() throws Exception {
        if (redis != null) {
            redis.start();
        }
    }

    @Override
    protected void doStop() throws Exception {
        if (redis != null) {
            redis.stop();
        }
    }
}
