package dev.calsync.nylas;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.springframework.stereotype.Component;

/**
 * Runs as the error handler's {@code onExceptionOccurred}, just before the next redelivery delay is chosen: when
 * Nylas sent a Retry-After, that delay replaces the exponential backoff (through {@code CamelRedeliveryDelay});
 * otherwise the policy's backoff applies.
 */
@Component("honourRetryAfter")
public class HonourRetryAfter implements Processor {

    private final long maxDelayMillis;

    public HonourRetryAfter(dev.calsync.config.CalsyncProperties properties) {
        this.maxDelayMillis = properties.push().maxRedeliveryDelayMillis();
    }

    @Override
    public void process(Exchange exchange) {
        Throwable error = exchange.getException() != null ? exchange.getException()
                : exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof NylasRetryableException r && r.getRetryAfterMillis() != null) {
                // capped like the backoff, so retries stay well inside the push lease
                exchange.getMessage().setHeader(Exchange.REDELIVERY_DELAY, Math.min(r.getRetryAfterMillis(),
                        maxDelayMillis));
                return;
            }
        }
        exchange.getMessage().removeHeader(Exchange.REDELIVERY_DELAY);
    }
}
