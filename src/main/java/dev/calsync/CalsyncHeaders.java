package dev.calsync;

/**
 * The names of the {@code Calsync*} message headers: the contract of the local sink (the routes
 * {@code calsync-local-upsert}, {@code calsync-local-delete} and {@code calsync-local-upsert-batch} of
 * local-store/local-http/local-kafka and of a team's own sink, which read them) and the keys of the event a route
 * works on, which the Nylas client routes and the mapping lookups read too. One declaration of each, used by every
 * bean. Each route file states at its top which of them its routes read and set; headers are removed before any
 * outbound HTTP call (the {@code outboundHeaderFilter}) and before an HTTP answer. Route-internal state lives in Camel
 * variables instead ({@link CalsyncVariables}); {@code RouteFilesTest} fails on a route file that sets any other
 * header than these and the components' own.
 */
public final class CalsyncHeaders {

    // --- an event and its record: what a sink writes, and what the Nylas calls and the mapping lookups name

    /** The Nylas grant. */
    public static final String GRANT_ID = "CalsyncGrantId";
    /** The calendar. */
    public static final String CALENDAR_ID = "CalsyncCalendarId";
    /** The Nylas event id. */
    public static final String EVENT_ID = "CalsyncEventId";
    /** The local record id: the record a sink writes or deletes. */
    public static final String RECORD_ID = "CalsyncRecordId";
    /** The same value for every retry of one change: what the local routes hand the application to drop a repeat. */
    public static final String IDEMPOTENCY_KEY = "CalsyncIdempotencyKey";

    // --- a push of an application change: set by pushOutbox when it opens a claimed row

    /**
     * This worker's claim on the mapping row: the push writes only while it is still the row's (a sink passes it to
     * the built-in store when a push writes its own record).
     */
    public static final String CLAIM = "CalsyncClaim";

    private CalsyncHeaders() {
    }
}
