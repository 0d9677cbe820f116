package dev.calsync;

/**
 * The names of the {@code Calsync*} Camel variables: route-internal state that the routes and the beans they call
 * pass between each other, and that no sink or other team reads (the sink contract is in {@link CalsyncHeaders}).
 * Variables stay on the exchange and are never sent anywhere (an HTTP call sends headers, never variables); a route
 * names them as {@code ${variable.CalsyncVersion}}, a bean method as {@code @Variable}. They are exchange-scoped: a
 * {@code direct:} call shares them; a split's parts, an enrich's or a wire tap's copy and a seda hand-over get a copy
 * of them; what a split's part or a seda consumer sets stays there, an enrich hands its copy's variables back
 * ({@code VariableScopeTest}). Each route file states at its top the ones it reads and sets. Names that were headers
 * keep the header's name (logging reads either).
 */
public final class CalsyncVariables {

    // --- a notification: set by notificationDecoder (webhook) and notificationRouting (a claimed notification)

    /** The notification's top-level id: the inbox key, and the root of the local writes' idempotency keys. */
    public static final String NOTIFICATION_ID = "CalsyncNotificationId";
    /** The notification's type as Nylas sent it, e.g. {@code event.updated.truncated}. */
    public static final String NOTIFICATION_TYPE = "CalsyncNotificationType";
    /** The type's first two parts, e.g. {@code event.updated}: what the router routes by. */
    public static final String TOPIC = "CalsyncTopic";
    /** True for a {@code .truncated} notification: its event must be fetched. */
    public static final String TRUNCATED = "CalsyncTruncated";
    /** The notification's signed time, as a {@code java.sql.Timestamp}. */
    public static final String NOTIFIED_AT = "CalsyncNotifiedAt";
    /** The id of the notification's object (inbox column). */
    public static final String OBJECT_ID = "CalsyncObjectId";
    /** The key that keeps one event's notifications in order (inbox column). */
    public static final String EVENT_KEY = "CalsyncEventKey";
    /** The notification as stored (inbox column). */
    public static final String PAYLOAD = "CalsyncPayload";
    /** This attempt's number, as the claim counted it. */
    public static final String ATTEMPTS = "CalsyncAttempts";
    /** This worker's claim on the inbox row: outcomes are recorded only while it is still the row's. */
    public static final String NOTIFICATION_CLAIM = "CalsyncNotificationClaim";

    // --- an inbound event being planned and applied: set by inboundPlanner

    /** The record id an event names in {@code metadata.key1} (ours, on the events we create); empty for none. */
    public static final String RECORD_HINT = "CalsyncRecordHint";
    /** What the inbound planner decided: create, update, skip, refetch, duplicate, delete-again, delete. */
    public static final String ACTION = "CalsyncAction";
    /** The canonical content hash of the event being written. */
    public static final String CONTENT_HASH = "CalsyncContentHash";
    /** The event's {@code updated_at} being applied. */
    public static final String REMOTE_UPDATED_AT = "CalsyncRemoteUpdatedAt";
    /** The event's metadata being applied (JSON). */
    public static final String REMOTE_METADATA = "CalsyncRemoteMetadata";
    /** Set on an event fetched from Nylas to settle a same-second tie: it is applied as the current state. */
    public static final String AUTHORITATIVE = "CalsyncAuthoritative";

    // --- a reconciliation run

    /** The run being worked on. */
    public static final String RUN_ID = "CalsyncRunId";
    /** The repair a run applies to one event: apply, yield, occurrence, delete, delete-duplicate, ... */
    public static final String REPAIR = "CalsyncRepair";

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
