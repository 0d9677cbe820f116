package dev.calsync.nylas;

/** A Nylas answer worth retrying (429 or 5xx); redelivery backs off, honouring Retry-After when Nylas sent one. */
public class NylasRetryableException extends NylasApiException {

    public NylasRetryableException(int status, String detail) {
        super(status, detail);
    }
}
