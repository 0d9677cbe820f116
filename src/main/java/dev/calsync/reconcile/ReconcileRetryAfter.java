package dev.calsync.reconcile;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.nylas.NylasRetryableException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.springframework.stereotype.Component;

/**
 * Runs as the {@code reconcile-errors} handler's {@code onExceptionOccurred}, before the next attempt of a run's
 * Nylas call: a Retry-After of Nylas replaces the exponential backoff, capped by
 * {@code calsync.reconcile.max-retry-delay}. A run's lease is renewed while it works, so the ceiling is well above the
 * push's. An open circuit is waited out by the backoff itself (its attempts span more than the circuit's open time).
 */
@Component("reconcileRetryAfter")
public class ReconcileRetryAfter implements Processor {

    private final long maxDelayMillis;

    public ReconcileRetryAfter(CalsyncProperties properties) {
        this.maxDelayMillis = properties.reconcile().maxRetryDelay().toMillis();
    }

    @Override
    public void process(Exchange exchange) {
        Throwable error = exchange.getException() != null ? exchange.getException()
                : exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        Long delay = null;
        for (Throwable t = error; t != null && delay == null; t = t.getCause()) {
            if (t instanceof NylasRetryableException r && r.getRetryAfterMillis() != null) {
                delay = r.getRetryAfterMillis();
            }
        }
        if (delay == null) {
            exchange.getMessage().removeHeader(Exchange.REDELIVERY_DELAY);
        } else {
            exchange.getMessage().setHeader(Exchange.REDELIVERY_DELAY, Math.min(delay, maxDelayMillis));
        }
    }
}
