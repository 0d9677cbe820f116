package dev.calsync.webhook;

import java.util.function.Supplier;

import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.apache.camel.spi.IdempotentRepository;
import org.apache.camel.support.service.ServiceSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An idempotent repository that never stands in the way of a notification: when Redis is down or slow it answers
 * "not seen yet" and lets PostgreSQL's primary key on the notification id do the deduplication. A resilience4j
 * circuit breaker keeps the acknowledgement path from waiting on a dead Redis; it closes again by itself.
 * <p>
 * Written by hand because Camel's repositories fail the exchange when their store fails, and here the store is
 * only a cache in front of the database.
 */
public class FailOpenIdempotentRepository extends ServiceSupport implements IdempotentRepository {

    private static final Logger LOG = LoggerFactory.getLogger(FailOpenIdempotentRepository.class);

    private final IdempotentRepository delegate;
    private final CircuitBreaker breaker;

    public FailOpenIdempotentRepository(IdempotentRepository delegate, CircuitBreaker breaker) {
        this.delegate = delegate;
        this.breaker = breaker;
    }

    public CircuitBreaker breaker() {
        return breaker;
    }

    @Override
    public boolean contains(String key) {
        return call(() -> delegate.contains(key), false);
    }

    @Override
    public boolean add(String key) {
        return call(() -> delegate.add(key), true);
    }

    @Override
    public boolean remove(String key) {
        return call(() -> delegate.remove(key), true);
    }

    @Override
    public boolean confirm(String key) {
        return call(() -> delegate.confirm(key), true);
    }

    @Override
    public void clear() {
        call(() -> {
            delegate.clear();
            return true;
        }, true);
    }

    private boolean call(Supplier<Boolean> operation, boolean whenUnavailable) {
        try {
            return breaker.executeSupplier(operation);
        } catch (CallNotPermittedException e) {
            return whenUnavailable;
        } catch (RuntimeException e) {
            LOG.warn("Redis dedupe unavailable ({}); PostgreSQL dedupes alone until it is back",
                    e.getClass().getSimpleName());
            return whenUnavailable;
        }
    }

    @Override
    protected void doStart() throws Exception {
        delegate.start();
    }

    @Override
    protected void doStop() throws Exception {
        delegate.stop();
    }
}
