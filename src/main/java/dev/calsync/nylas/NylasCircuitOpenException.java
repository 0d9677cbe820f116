package dev.calsync.nylas;

/** The circuit breaker in front of Nylas is open: no call was made; the work waits until Nylas is back. */
public class NylasCircuitOpenException extends RuntimeException {

    public NylasCircuitOpenException() {
        super("Nylas API circuit is open: too many recent failures", null, false, false);
    }
}
