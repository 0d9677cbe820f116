package dev.calsync.reconcile;

/** A reconciliation would delete too much: it stops, reports, and changes nothing more. */
public class MassDeleteGuardException extends RuntimeException {

    public MassDeleteGuardException(int wouldDelete, int of) {
        super("mass-delete guard: the calendar listing lacks " + wouldDelete + " of " + of
                + " synced events in the window; nothing was deleted (an empty or partial listing is not trusted)",
                null, false, false);
    }
}
