package dev.calsync.nylas;

/**
 * Nylas (or the provider behind it) answered 429: back-pressure, not a failure. Retried like any retryable answer
 * (Retry-After honoured), but never counted by the circuit breaker, so one throttled mailbox does not open the
 * circuit for every grant.
 */
public class NylasThrottledException extends NylasRetryableException {

    public NylasThrottledException(String detail, Long retryAfterMillis) {
        super(429, detail, retryAfterMillis);
    }
}
