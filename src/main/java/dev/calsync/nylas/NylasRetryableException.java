package dev.calsync.nylas;

/**
 * A Nylas answer worth retrying (429 or 5xx); redelivery backs off, and waits {@link #getRetryAfterMillis()} instead
 * when Nylas sent a Retry-After.
 */
public class NylasRetryableException extends NylasApiException {

    private final Long retryAfterMillis;

    public NylasRetryableException(int status, String detail, Long retryAfterMillis) {
        super(status, detail);
        this.retryAfterMillis = retryAfterMillis;
    }

    /** The delay Nylas asked for, or null. */
    public Long getRetryAfterMillis() {
        return retryAfterMillis;
    }
}
