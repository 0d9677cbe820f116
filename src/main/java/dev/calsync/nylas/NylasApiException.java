package dev.calsync.nylas;

/** A Nylas API call answered with an unexpected status; the message names the status and Nylas' error type. */
public class NylasApiException extends RuntimeException {

    private final int status;

    public NylasApiException(int status, String detail) {
        super("Nylas API answered " + status + (detail == null || detail.isBlank() ? "" : ": " + detail));
        this.status = status;
    }

    public int getStatus() {
        return status;
    }
}
