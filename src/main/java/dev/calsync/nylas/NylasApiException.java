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

    /** 429, 5xx (including 504, Nylas giving up on the provider): try again later. */
    public static boolean retryable(int status) {
        return status == 429 || status >= 500;
    }
}
