package dev.calsync.outbound;

/**
 * An occurrence record cannot be pushed yet: its series' master has no calendar event yet (its create is still on
 * its way). The push waits and tries again; the attempt is not counted.
 */
public class SeriesNotSyncedException extends RuntimeException {

    public SeriesNotSyncedException(String recordId, String masterRecordId) {
        super("occurrence " + recordId + " waits for its series " + masterRecordId + " to reach the calendar");
    }
}
