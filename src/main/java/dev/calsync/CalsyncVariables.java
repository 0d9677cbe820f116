package dev.calsync;

/**
 * The names of the {@code Calsync*} Camel variables: route-internal state that the push routes, the recurring-series
 * routes and the beans they call (pushOutbox, seriesOccurrences, nylasRequests) pass between each other, and that no
 * sink or other team reads. Variables stay on
 * the exchange and are never sent anywhere; a route names them as {@code ${variable.CalsyncVersion}}. Each route file
 * states at its top the ones it reads and sets. The message headers are declared in {@link CalsyncHeaders}.
 */
public final class CalsyncVariables {

    // --- a push of an application change: set by pushOutbox when it opens a claimed row

    /** What the record should be on the calendar: {@code live} or {@code deleted}. */
    public static final String DESIRED = "CalsyncDesired";
    /** The version of the application change being pushed. */
    public static final String VERSION = "CalsyncVersion";
    /** Creates sent so far for the record: any of them may have reached Nylas unseen. */
    public static final String CREATE_ATTEMPTS = "CalsyncCreateAttempts";

    // --- a recurring series: set by seriesOccurrences (a notification's series) and pushOutbox.masterEvent (a push)

    /** The Nylas event of a recurring series' master: the series that is listed. */
    public static final String MASTER_EVENT_ID = "CalsyncMasterEventId";

    // --- an occurrence record of a recurring series being pushed: set by pushOutbox from the record

    /** The local record of a recurring series' master. */
    public static final String MASTER_RECORD_ID = "CalsyncMasterRecordId";
    /** Where its series puts the occurrence (Unix seconds), whatever its own time says now. */
    public static final String ORIGINAL_START_TIME = "CalsyncOriginalStartTime";
    /** The record's status: {@code confirmed}, or {@code cancelled} for a cancelled occurrence. */
    public static final String STATUS = "CalsyncStatus";

    private CalsyncVariables() {
    }
}
