package dev.calsync.nylas;

/**
 * A Nylas API call answered with a status that is not success. The message names the status and Nylas' error type,
 * never the request's credentials. {@link NylasRetryableException} marks the statuses worth retrying.
 */
public class NylasApiException extends RuntimeException {

    private final int status;

    public NylasApiException(int status, String detail) {
        super("Nylas API answered " + status + (detail == null || detail.isBlank() ? "" : ": " + detail), null,
                false, false);
        this.status = status;
    }

    public int getStatus() {
        return status;
    }

    /** The Nylas answer behind the exchange's failure (the exception, or the one caught by the error handler), or null. */
    public static NylasApiException answerOf(org.apache.camel.Exchange exchange) {
        Throwable error = exchange.getException() != null ? exchange.getException()
                : exchange.getProperty(org.apache.camel.Exchange.EXCEPTION_CAUGHT, Throwable.class);
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof NylasApiException api) {
                return api;
            }
        }
        return null;
    }

    /**
     * Before the next redelivery: the Retry-After Nylas sent with this answer replaces the policy's backoff, capped at
     * {@code maxDelayMillis}; without one the backoff applies.
     */
    public static void delayNextAttempt(org.apache.camel.Exchange exchange, NylasApiException answer,
                                        long maxDelayMillis) {
        if (answer instanceof NylasRetryableException r && r.getRetryAfterMillis() != null) {
            exchange.getMessage().setHeader(org.apache.camel.Exchange.REDELIVERY_DELAY,
                    Math.min(r.getRetryAfterMillis(), maxDelayMillis));
        } else {
            exchange.getMessage().removeHeader(org.apache.camel.Exchange.REDELIVERY_DELAY);
        }
    }

    /** 429, 5xx (including 504, Nylas giving up on the provider): try again later. */
    public static boolean retryable(int status) {
        return status == 429 || status >= 500;
    }
}
