package dev.calsync.reconcile;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.nylas.NylasCircuitOpenException;
import dev.calsync.nylas.NylasRetryableException;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.springframework.stereotype.Component;

/**
 * Runs as the {@code reconcile-errors} handler's {@code onExceptionOccurred}, before the next attempt of a run's
 * Nylas call: a Retry-After of Nylas replaces the exponential backoff, and an open circuit waits its open time; both
 * capped by {@code calsync.reconcile.max-retry-delay}. A run is not bound by a worker's lease the way a push is, so
 * the ceiling is well above the push's.
 */
@Component("reconcileRetryAfter")
public class ReconcileRetryAfter implements Processor {

    private final long maxDelayMillis;
    private final long circuitWaitMillis;

    public ReconcileRetryAfter(CalsyncProperties properties) {
        this.maxDelayMillis = properties.reconcile().maxRetryDelay().toMillis();
        this.circuitWaitMillis = properties.push().circuitOpenWait().toMillis();
    }

    @Override
    public void process(Exchange exchange) {
        Throwable error = exchange.getException() != null ? exchange.getException()
                : exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        Long delay = null;
        for (Throwable t = error; t != null && delay == null; t = t.getCause()) {
            if (t instanceof NylasRetryableException r && r.getRetryAfterMillis() != null) {
                delay = r.getRetryAfterMillis();
            } else if (t instanceof NylasCircuitOpenException || t instanceof CallNotPermittedException) {
                delay = circuitWaitMillis;
            }
        }
        if (delay == null) {
            exchange.getMessage().removeHeader(Exchange.REDELIVERY_DELAY);
        } else {
            exchange.getMessage().setHeader(Exchange.REDELIVERY_DELAY, Math.min(delay, maxDelayMillis));
        }
    }
}
