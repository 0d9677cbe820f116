package dev.calsync.reconcile;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.nylas.NylasApiException;
import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.springframework.stereotype.Component;

/**
 * Runs as the {@code calsync-reconcile-errors} handler's {@code onExceptionOccurred}, before the next attempt of a
 * run's Nylas call: a Retry-After of Nylas replaces the exponential backoff, capped by
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
        NylasApiException.delayNextAttempt(exchange, NylasApiException.answerOf(exchange), maxDelayMillis);
    }
}
