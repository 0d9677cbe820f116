package dev.calsync.nylas;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.GRANT_ID;

/**
 * A circuit breaker per grant (resilience4j) around every Nylas call: one grant whose calls keep failing (its
 * provider account down, a mailbox answering errors) stops only its own calls for a while; every other grant's calls
 * go on. A Nylas-wide outage opens each active grant's circuit after a few of its own calls. A {@code 429} is not a
 * failure here (it is back-pressure, handled by the caller's retry), only {@link NylasRetryableException}s (5xx) and
 * I/O failures are.
 * <p>
 * Breakers live in a map keyed by grant; those of grants idle for {@link #IDLE} are dropped when the map grows past
 * {@link #TRACKED}, so 100,000 grants never mean 100,000 breakers in memory. Written by hand around resilience4j
 * because Camel's circuit breaker EIP has one breaker per route node, not one per key.
 */
@Component("grantCircuits")
public class GrantCircuits {

    static final String PERMITTED = "calsync.grantCircuit";
    static final int TRACKED = 10_000;
    static final Duration IDLE = Duration.ofMinutes(10);
    static final Duration SWEEP_EVERY = Duration.ofSeconds(30);
    /** The states of {@code calsync_nylas_circuit_state}: the ones this breaker's configuration can reach. */
    static final java.util.List<CircuitBreaker.State> STATES = java.util.List.of(CircuitBreaker.State.CLOSED,
            CircuitBreaker.State.OPEN, CircuitBreaker.State.HALF_OPEN);

    private static final Logger LOG = LoggerFactory.getLogger(GrantCircuits.class);

    private final CircuitBreakerConfig config;
    private final Map<String, Tracked> breakers = new ConcurrentHashMap<>();
    private volatile long lastSweepNanos = System.nanoTime();

    @Autowired
    public GrantCircuits(MeterRegistry registry) {
        this(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(20).minimumNumberOfCalls(5).failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(10)).permittedNumberOfCallsInHalfOpenState(2)
                // after the wait an open circuit turns half-open by itself, so the gauge counts only circuits that
                // are open now, also of grants that stopped calling
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .recordExceptions(NylasRetryableException.class, IOException.class)
                .build());
        Gauge.builder("calsync.nylas.open.circuits", this, GrantCircuits::open)
                .description("Grants whose Nylas calls are paused by their circuit breaker").register(registry);
        // one series per state, each counting the tracked circuits in it: bounded whatever the number of grants
        for (CircuitBreaker.State state : STATES) {
            Gauge.builder("calsync.nylas.circuit.state", this, c -> c.inState(state))
                    .description("Grants' Nylas circuits in each state (closed: calls go through; open: paused;"
                            + " half_open: trying again)")
                    .tag("state", state.name().toLowerCase(java.util.Locale.ROOT)).register(registry);
        }
    }

    GrantCircuits(CircuitBreakerConfig config) {
        this.config = config;
    }

    /** Before a call: throws {@link NylasCircuitOpenException} while the grant's circuit is open. */
    public void acquire(Exchange exchange) {
        String grant = exchange.getMessage().getHeader(GRANT_ID, String.class);
        exchange.removeProperty(PERMITTED);
        if (grant == null) {
            return;
        }
        CircuitBreaker breaker = breaker(grant);
        if (!breaker.tryAcquirePermission()) {
            throw new NylasCircuitOpenException(grant);
        }
        exchange.setProperty(PERMITTED, new Call(breaker, System.nanoTime()));
    }

    /** After a call that answered without a retryable status. */
    public void succeeded(Exchange exchange) {
        Call call = exchange.getProperty(PERMITTED, Call.class);
        if (call != null) {
            exchange.removeProperty(PERMITTED);
            call.breaker.onSuccess(System.nanoTime() - call.startNanos, TimeUnit.NANOSECONDS);
        }
    }

    /** After a call that failed: records the failure against the grant, then throws it on unchanged. */
    public void failed(Exchange exchange) throws Exception {
        Exception error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Exception.class);
        Call call = exchange.getProperty(PERMITTED, Call.class);
        if (call != null) {
            exchange.removeProperty(PERMITTED);
            // resilience4j decides from its recordExceptions whether this counts as a failure
            call.breaker.onError(System.nanoTime() - call.startNanos, TimeUnit.NANOSECONDS, error);
        }
        throw error;
    }

    /** Forgets every grant's breaker: each grant's calls start again from a closed circuit. */
    public void reset() {
        breakers.clear();
    }

    /** Grants whose circuit is open now. */
    public int open() {
        return inState(CircuitBreaker.State.OPEN);
    }

    /** Grants (among those tracked: called within {@link #IDLE}, or fewer than {@link #TRACKED}) in one state. */
    public int inState(CircuitBreaker.State state) {
        return (int) breakers.values().stream().filter(t -> t.breaker.getState() == state).count();
    }

    CircuitBreaker breaker(String grant) {
        long now = System.nanoTime();
        Tracked tracked = breakers.computeIfAbsent(grant, g -> new Tracked(CircuitBreaker.of("nylas-" + g, config)));
        tracked.lastUsedNanos = now;
        if (breakers.size() > TRACKED && now - lastSweepNanos > SWEEP_EVERY.toNanos()) {
            lastSweepNanos = now;
            forgetIdle(now);
        }
        return tracked.breaker;
    }

    /**
     * Drops the breakers of grants that made no call for {@link #IDLE}, whatever their state (the wait of an open
     * one is long over): a grant that calls again starts with a fresh one. At most every {@link #SWEEP_EVERY}.
     */
    private void forgetIdle(long now) {
        int before = breakers.size();
        breakers.entrySet().removeIf(e -> now - e.getValue().lastUsedNanos > IDLE.toNanos());
        LOG.debug("Grant circuits: {} tracked, {} after dropping idle ones", before, breakers.size());
    }

    private record Call(CircuitBreaker breaker, long startNanos) {
    }

    private static final class Tracked {
        final CircuitBreaker breaker;
        volatile long lastUsedNanos;

        Tracked(CircuitBreaker breaker) {
            this.breaker = breaker;
        }
    }
}
