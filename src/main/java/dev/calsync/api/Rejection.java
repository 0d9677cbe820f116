package dev.calsync.api;

/**
 * A request refused with a definite status and a short message. The error-handling route configuration
 * turns it into {@code {"error": code, "message": message}}; no stack trace is filled or shown.
 */
public class Rejection extends RuntimeException {

    private final int status;
    private final String code;

    public Rejection(int status, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
    }

    public int getStatus() {
        return status;
    }

    public String getCode() {
        return code;
    }
}
