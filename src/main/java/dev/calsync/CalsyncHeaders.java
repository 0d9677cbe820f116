package dev.calsync;

/**
 * The names of the {@code Calsync*} message headers the route files and the beans they call pass between each other:
 * one declaration of each, used by every bean. Each route file states at its top which of them its routes read and
 * set; headers are removed before any outbound HTTP call (the {@code outboundHeaderFilter}) and before an HTTP answer.
 * State that only a route and its own beans use lives in Camel variables instead ({@link CalsyncVariables}).
 */
public final class CalsyncHeaders {

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

    // --- an event and its record

    /** The Nylas grant. */
    public static final String GRANT_ID = "CalsyncGrantId";
    /** The calendar. */
    public static final String CALENDAR_ID = "CalsyncCalendarId";
    /** The Nylas event id. */
    public static final String EVENT_ID = "CalsyncEventId";
    /** The local record id. */
    public static final String RECORD_ID = "CalsyncRecordId";
    /** The record id an event names in {@code metadata.key1} (ours, on the events we create). */
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
    /** The same value for every retry of one change: what the local routes hand the application to drop a repeat. */
    public static final String IDEMPOTENCY_KEY = "CalsyncIdempotencyKey";

    // --- a push of an application change: set by pushOutbox when it opens a claimed row

    /** This worker's claim on the mapping row: the push writes only while it is still the row's. */
    public static final String CLAIM = "CalsyncClaim";

    // --- a reconciliation run

    /** The run being worked on. */
    public static final String RUN_ID = "CalsyncRunId";
    /** The repair a run applies to one event: apply, yield, occurrence, delete, delete-duplicate, ... */
    public static final String REPAIR = "CalsyncRepair";

    private CalsyncHeaders() {
    }
}
