package dev.calsync.nylas;

/** The circuit breaker in front of Nylas is open: no call was made; the work waits until Nylas is back. */
public class NylasCircuitOpenException extends RuntimeException {

    public NylasCircuitOpenException(String grantId) {
        super("Nylas calls for grant " + grantId + " are paused: too many recent failures", null, false, false);
    }
}
