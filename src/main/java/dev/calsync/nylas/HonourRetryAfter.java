package dev.calsync.nylas;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CLAIM;
import static dev.calsync.CalsyncHeaders.RECORD_ID;

/**
 * Runs as the error handler's {@code onExceptionOccurred}, just before the next redelivery delay is chosen: when
 * Nylas sent a Retry-After, that delay replaces the exponential backoff (through {@code CamelRedeliveryDelay});
 * otherwise the policy's backoff applies. A 429 also tells that no create is in flight, which lifts the wait for a
 * create to land.
 */
@Component("honourRetryAfter")
public class HonourRetryAfter implements Processor {

    private final long maxDelayMillis;
    private final dev.calsync.mapping.SyncMappings mappings;

    public HonourRetryAfter(dev.calsync.config.CalsyncProperties properties,
                            dev.calsync.mapping.SyncMappings mappings) {
        this.maxDelayMillis = properties.push().maxRedeliveryDelayMillis();
        this.mappings = mappings;
    }

    @Override
    public void process(Exchange exchange) {
        NylasApiException answered = NylasApiException.answerOf(exchange);
        if (answered != null && answered.getStatus() < 500) {
            // Nylas refused the call (429) before working on it: no create of this push is in flight, so the next
            // attempt need not wait for one to land. A 5xx (504 above all: Nylas gave up waiting for the provider,
            // which may still create the event), a time-out or a lost answer leaves that open.
            mappings.createAnswered(exchange.getMessage().getHeader(RECORD_ID, String.class),
                    exchange.getMessage().getHeader(CLAIM, String.class));
        }
        // capped like the backoff, so retries stay well inside the push lease
        NylasApiException.delayNextAttempt(exchange, answered, maxDelayMillis);
    }
}
