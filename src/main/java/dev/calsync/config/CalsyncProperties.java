package dev.calsync.config;

import java.time.Duration;
import java.util.List;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Every property of the product, under the {@code calsync} prefix. The README's configuration table documents each
 * one; routes read them as {@code {{calsync....}}} placeholders. Each one has an {@code @param} description here,
 * which the configuration metadata (and so an IDE) shows; {@code ConfigurationMetadataTest} keeps the two complete.
 *
 * @param routesDir Folder of the *.camel.yaml route files (CALSYNC_ROUTES_DIR, relative to the working directory): a
 *     file there replaces the packaged file of the same name (classpath:calsync/routes/); other files there are
 *     loaded too.
 */
@Validated
@ConfigurationProperties("calsync")
public record CalsyncProperties(
        @DefaultValue("routes") String routesDir,
        @Valid @NotNull @DefaultValue Nylas nylas,
        @Valid @NotNull @DefaultValue Http http,
        @Valid @NotNull @DefaultValue Webhook webhook,
        @Valid @NotNull @DefaultValue Dedupe dedupe,
        @Valid @NotNull @DefaultValue Inbound inbound,
        @Valid @NotNull @DefaultValue Sync sync,
        @Valid @NotNull @DefaultValue Api api,
        @Valid @NotNull @DefaultValue Local local,
        @Valid @NotNull @DefaultValue Push push,
        @Valid @NotNull @DefaultValue Reconcile reconcile,
        @Valid @NotNull @DefaultValue Database database,
        @Valid @NotNull @DefaultValue Metrics metrics) {

    public CalsyncProperties {
        if (inbound.retention().compareTo(dedupe.ttl()) < 0) {
            throw new IllegalArgumentException("calsync.inbound.retention (" + inbound.retention()
                    + ") must not be shorter than calsync.dedupe.ttl (" + dedupe.ttl() + "), the replay window");
        }
    }

    /**
     * The Nylas API this service calls.
     *
     * @param apiUri Nylas API base URL (NYLAS_API_URI; https://api.eu.nylas.com for the EU region).
     * @param apiKey Secret: from NYLAS_API_KEY only, never logged.
     * @param connectTimeoutMillis Connect time-out of Nylas API calls; an unanswered call counts as failed and is
     *     retried.
     * @param responseTimeoutMillis Response time-out of Nylas API calls; an unanswered call counts as failed and is
     *     retried (a create is first looked up by metadata.key1).
     * @param rateLimitKeyPrefix Redis keys of the per-grant call limit every instance shares:
     *     {@code <prefix>:<grant>:<second>}.
     */
    public record Nylas(
            @DefaultValue("https://api.us.nylas.com") String apiUri,
            @DefaultValue("") String apiKey,
            @DefaultValue("5000") @Min(1) long connectTimeoutMillis,
            @DefaultValue("30000") @Min(1) long responseTimeoutMillis,
            @DefaultValue("calsync:rate") String rateLimitKeyPrefix) {
        @Override
        public String toString() {
            return "Nylas[apiUri=" + apiUri + ", apiKey=" + (apiKey.isEmpty() ? "<unset>" : "<set>") + "]";
        }
    }

    /**
     * The webhook endpoint Nylas posts to.
     *
     * @param enabled Off: no webhook route and no listener on this instance (its routes' precondition).
     * @param secrets Secrets: from NYLAS_WEBHOOK_SECRET (comma-separated while rotating), never logged.
     * @param maxBodySize Largest webhook body accepted, as received and after gzip inflation (413 above).
     * @param maxClockSkew How far a notification's signed time may be ahead of this clock before it is refused.
     * @param maxInFlight Webhook requests handled at once; more are answered 503 at once (Nylas delivers them again).
     * @param storeTimeout A notification not committed to the inbox within this is answered 503.
     * @param storeBatchSize The most notifications one group commit stores.
     * @param storeConnections Threads writing the inbox, each with a database connection of its own (not from the
     *     main pool).
     */
    public record Webhook(
            @DefaultValue("true") boolean enabled,
            @DefaultValue("") List<String> secrets,
            @DefaultValue("2MB") DataSize maxBodySize,
            @DefaultValue("5m") Duration maxClockSkew,
            @DefaultValue("256") @Min(1) int maxInFlight,
            @DefaultValue("5s") Duration storeTimeout,
            @DefaultValue("256") @Min(1) int storeBatchSize,
            @DefaultValue("2") @Min(1) int storeConnections,
            @Valid @NotNull @DefaultValue Listener listener) {
        public Webhook {
            secrets = secrets.stream().map(String::trim).filter(s -> !s.isEmpty()).toList();
        }

        @Override
        public String toString() {
            return "Webhook[enabled=" + enabled + ", secrets=<" + secrets.size() + " set>, maxBodySize=" + maxBodySize + ", maxInFlight="
                    + maxInFlight + ", storeTimeout=" + storeTimeout + ", storeBatchSize=" + storeBatchSize
                    + ", storeConnections=" + storeConnections + ", listener=" + listener + "]";
        }
    }

    /**
     * The webhook's own listener: {@code /webhooks/nylas} served by camel-platform-http on Vert.x on a port of its own
     * (the application's HTTP port keeps serving it too). Reading a request costs no thread there, only the route
     * does.
     *
     * @param enabled Serve the webhook on its own listener; off: nothing listens there and only server.port serves
     *     the webhook.
     * @param port Port of the webhook's listener (CALSYNC_WEBHOOK_LISTENER_PORT); 0: any free port (tests).
     * @param bindAddress Address the webhook's listener binds to.
     * @param workers Threads the webhook route runs on (it waits on one for its group commit).
     * @param idleTimeout A connection with no request under way and nothing received for this long is closed.
     * @param maxConnections Open connections at most; past it the longest-idle one is closed to admit a new one.
     */
    public record Listener(
            @DefaultValue("true") boolean enabled,
            @DefaultValue("8082") @Min(0) int port,
            @DefaultValue("0.0.0.0") String bindAddress,
            @DefaultValue("64") @Min(1) int workers,
            @DefaultValue("30s") Duration idleTimeout,
            @DefaultValue("4096") @Min(1) int maxConnections) {
    }

    /**
     * How request bodies are read, on the webhook listener and on the application's HTTP port (each server counts its
     * own): whole within a deadline, and only so many at once, so slow or many senders cannot hold the service.
     *
     * @param basePath Prefix of every path calsync serves (the webhook, on the listener and on server.port, and the
     *     application and admin APIs): empty (the default) or a path such as /calsync, without a trailing slash.
     * @param bodyReadTimeout A request's whole body must arrive within this of its head (408 and the connection
     *     closed otherwise).
     * @param maxBodyReads Bodies being read at once (503 beyond).
     * @param maxLargeBodyReads Bodies announced over 64 KiB or sent without a length, held at once until answered.
     * @param maxBodyReadsPerAddress Bodies being read at once from one client address (0: no limit).
     */
    public record Http(
            @DefaultValue("") String basePath,
            @DefaultValue("3s") Duration bodyReadTimeout,
            @DefaultValue("256") @Min(1) int maxBodyReads,
            @DefaultValue("8") @Min(1) int maxLargeBodyReads,
            @DefaultValue("64") @Min(0) int maxBodyReadsPerAddress) {
        public Http {
            if (!basePath.isEmpty() && (!basePath.startsWith("/") || basePath.endsWith("/")
                    || !basePath.matches("[A-Za-z0-9._~/-]+") || basePath.contains("//"))) {
                throw new IllegalArgumentException("calsync.http.base-path must be empty or a path such as /calsync"
                        + " (a leading slash, no trailing slash, letters, digits and . _ ~ - only): " + basePath);
            }
        }
    }

    /**
     * Notification-id dedupe. {@code ttl} is both the Redis key expiry and the replay window: a notification whose
     * signed time is older is refused, so a purged id can never be replayed.
     *
     * @param ttl The replay window (a notification whose signed time is older is refused), and the Redis key expiry of
     *     a notification id.
     * @param redisKeyPrefix With the pre-filter: Redis keys are {@code <prefix>:<notification id>}.
     * @param redisRetryAfter With the pre-filter: after Redis fails, how long the dedupe runs on PostgreSQL alone
     *     before trying Redis again.
     * @param redisPrefilter Ask Redis before the database whether a notification id is known (off: the group commit
     *     dedupes).
     */
    public record Dedupe(
            @DefaultValue("24h") Duration ttl,
            @DefaultValue("calsync:notification") String redisKeyPrefix,
            @DefaultValue("10s") Duration redisRetryAfter,
            @DefaultValue("false") boolean redisPrefilter) {
    }

    /**
     * Processing of stored notifications, after the acknowledgement.
     *
     * @param pollDelayMillis Pause between claims of stored notifications when there was nothing to do.
     * @param batchSize Notifications claimed per poll.
     * @param workers Notifications processed in parallel (never two of one event).
     * @param workersWhileAcknowledging Notifications processed at once while the webhook is busy (acknowledgements
     *     first).
     * @param yieldAtAcksPerSecond The webhook counts as busy from this many notifications stored per second.
     * @param lease How long a claimed notification belongs to its worker, from the moment the worker starts it; after
     *     that it is claimed again. Keep it above the longest processing.
     * @param maxAttempts Processing attempts before a notification becomes a dead letter.
     * @param initialBackoff First wait of the exponential backoff (with full jitter) between attempts.
     * @param maxBackoff Longest wait of the exponential backoff (with full jitter) between attempts.
     * @param retention Processed notifications are purged after this (hourly); at least calsync.dedupe.ttl.
     */
    public record Inbound(
            @DefaultValue("250") @Min(10) long pollDelayMillis,
            @DefaultValue("32") @Min(1) int batchSize,
            @DefaultValue("8") @Min(1) int workers,
            @DefaultValue("2") @Min(1) int workersWhileAcknowledging,
            @DefaultValue("50") @Min(1) long yieldAtAcksPerSecond,
            @DefaultValue("2m") Duration lease,
            @DefaultValue("8") @Min(1) int maxAttempts,
            @DefaultValue("1s") Duration initialBackoff,
            @DefaultValue("5m") Duration maxBackoff,
            @DefaultValue("48h") Duration retention) {
    }

    /**
     * How calendar content is compared.
     *
     * @param allDayEnd How providers spell the end of an all-day datespan: exclusive (the day after) or inclusive.
     */
    public record Sync(
            @DefaultValue("exclusive") AllDayEnd allDayEnd) {
    }

    public enum AllDayEnd { EXCLUSIVE, INCLUSIVE }

    /**
     * Pushing application changes to the calendar.
     *
     * @param enabled Off: this instance pushes nothing (no poller, no push routes); application changes wait as
     *     pending.
     * @param pollDelayMillis Pause between claims of pending application changes when there was nothing to do.
     * @param batchSize Pending application changes claimed per poll.
     * @param workers Application changes pushed in parallel (never two of one record).
     * @param lease How long a claimed push belongs to its worker (it outlasts every retry of one push).
     * @param maxRedeliveries Retries of a push answered 429/5xx or timed out, before the record is failed.
     * @param redeliveryDelayMillis First wait of the exponential backoff (with jitter) between those retries (a
     *     Retry-After from Nylas replaces it).
     * @param maxRedeliveryDelayMillis Longest wait of the exponential backoff between those retries.
     * @param maxRequestsPerSecondPerGrant Nylas calls per grant and second, all instances together (counted in
     *     Redis); Nylas allows 200/s.
     * @param circuitOpenWait While a grant's circuit breaker in front of Nylas is open, how long that grant's pending
     *     pushes wait before being tried again.
     * @param createSettleTime How long a create may still land after it was sent (Nylas works on a provider call for
     *     up to ~90 s).
     */
    public record Push(
            @DefaultValue("true") boolean enabled,
            @DefaultValue("250") @Min(10) long pollDelayMillis,
            @DefaultValue("32") @Min(1) int batchSize,
            @DefaultValue("8") @Min(1) int workers,
            @DefaultValue("10m") Duration lease,
            @DefaultValue("5") @Min(0) int maxRedeliveries,
            @DefaultValue("500") @Min(0) long redeliveryDelayMillis,
            @DefaultValue("30000") @Min(0) long maxRedeliveryDelayMillis,
            @DefaultValue("100") @Min(1) int maxRequestsPerSecondPerGrant,
            @DefaultValue("30s") Duration circuitOpenWait,
            @DefaultValue("2m") Duration createSettleTime) {
    }

    /**
     * Reconciliation: comparing a calendar with the local side and repairing the difference.
     *
     * @param enabled Off: this instance neither queues nor runs reconciliations, and serves no /admin/reconcile.
     * @param intervalMillis How often every active calendar is reconciled; each calendar has its own slot in the
     *     interval.
     * @param windowPast How far back the listing window reaches (records outside it are never treated as gone).
     * @param windowFuture How far ahead the listing window reaches (records outside it are never treated as gone).
     * @param conflictPolicy When both sides changed since the last sync: newest-wins, calendar-wins or app-wins.
     * @param missingPolicy A synced record whose event is no longer on the calendar: delete it locally, or recreate
     *     the event.
     * @param maxDeleteShare Mass-delete guard: a run that would delete more than this share of the calendar's records
     *     (and more than max-deletes-without-guard of them), or all of them, stops and reports instead.
     * @param maxDeletesWithoutGuard Mass-delete guard: this many deletes a run makes whatever their share (unless they
     *     are every record of the calendar).
     * @param lease A run's lease, renewed every 30 s while it works; a run whose lease runs out is marked failed.
     * @param concurrency Runs one instance works on at once (claimed from the queue every instance shares).
     * @param pollDelayMillis How often each instance queues calendars whose slot came and claims queued runs (when
     *     idle).
     * @param retention Finished runs and their conflicts are deleted after this.
     * @param callAttempts Attempts of each Nylas call of a run (429, 5xx, time-out, open circuit) before the run
     *     fails.
     * @param maxRetryDelay The longest wait between two attempts, Retry-After included.
     */
    public record Reconcile(
            @DefaultValue("true") boolean enabled,
            @DefaultValue("3600000") @Min(1000) long intervalMillis,
            @DefaultValue("30d") Duration windowPast,
            @DefaultValue("365d") Duration windowFuture,
            @DefaultValue("newest-wins") String conflictPolicy,
            @DefaultValue("delete") String missingPolicy,
            @DefaultValue("0.5") double maxDeleteShare,
            @DefaultValue("5") @Min(0) int maxDeletesWithoutGuard,
            @DefaultValue("15m") Duration lease,
            @DefaultValue("4") @Min(1) int concurrency,
            @DefaultValue("1000") @Min(10) long pollDelayMillis,
            @DefaultValue("48h") Duration retention,
            @DefaultValue("6") @Min(1) int callAttempts,
            @DefaultValue("2m") Duration maxRetryDelay) {
    }

    /**
     * The application's side of the sync: where calendar changes go ({@code sink}: the routes of
     * routes/local-store.camel.yaml, local-http.camel.yaml or local-kafka.camel.yaml, chosen by their precondition).
     *
     * @param sink Where calendar changes go: store (the built-in store), http (the application's HTTP callback) or
     *     kafka (a Kafka topic); each route file's routes run only for its value.
     * @param callbackUrl The application's HTTP callback (sink http; CALSYNC_LOCAL_CALLBACK_URL).
     */
    public record Local(
            @DefaultValue("store") @NotNull @Pattern(regexp = "store|http|kafka",
                    message = "must be store, http or kafka (the local sink: where calendar changes go)") String sink,
            @DefaultValue("http://localhost:8081/calsync") String callbackUrl,
            @Valid @NotNull @DefaultValue Kafka kafka) {
        public Local {
            if ("kafka".equals(sink) && (kafka.brokers().isBlank() || kafka.topic().isBlank())) {
                throw new IllegalArgumentException("calsync.local.sink is kafka: calsync.local.kafka.brokers"
                        + " (CALSYNC_KAFKA_BROKERS) and calsync.local.kafka.topic must be set");
            }
        }
    }

    /**
     * The Kafka sink (sink kafka): where every calendar change is published.
     *
     * @param brokers host:port,... of the brokers (CALSYNC_KAFKA_BROKERS).
     * @param topic The topic the Kafka sink publishes to.
     */
    public record Kafka(
            @DefaultValue("localhost:9092") String brokers,
            @DefaultValue("calsync.events") String topic) {
    }

    /**
     * The application and admin APIs, and their bearer tokens.
     *
     * @param enabled Off: no application or admin API on this instance (its routes' precondition), and no filter on
     *     them.
     * @param token Secret: from APP_API_TOKEN, never logged.
     * @param adminToken Secret: from ADMIN_API_TOKEN; when empty the application token is used.
     * @param maxBodySize Largest request body of the application and admin APIs (413 above).
     */
    public record Api(
            @DefaultValue("true") boolean enabled,
            @DefaultValue("") String token,
            @DefaultValue("") String adminToken,
            @DefaultValue("1MB") DataSize maxBodySize) {
        public String effectiveAdminToken() {
            return adminToken.isEmpty() ? token : adminToken;
        }

        @Override
        public String toString() {
            return "Api[enabled=" + enabled + ", token=<" + (token.isEmpty() ? "unset" : "set") + ">, adminToken=<"
                    + (adminToken.isEmpty() ? "unset" : "set") + ">]";
        }
    }

    /**
     * calsync's tables: migrated by a Flyway of its own ({@code classpath:calsync/db/migration}) with its own history
     * table, so an application's own Flyway is untouched.
     *
     * @param migrate whether calsync's migrations run at start-up (off for a run that must not touch the database)
     * @param historyTable Flyway's history table of calsync's migrations (the standalone service keeps
     * flyway_schema_history)
     * @param schema the schema calsync's tables are created in; empty: the connection's default schema. The
     * connection's search_path must include it (e.g. currentSchema in the JDBC URL)
     */
    public record Database(
            @DefaultValue("true") boolean migrate,
            @DefaultValue("calsync_schema_history") String historyTable,
            @DefaultValue("") String schema) {
    }

    /**
     * The backlog gauges ({@code calsync_inbox_backlog}, {@code calsync_inbox_oldest_due_age_seconds},
     * {@code calsync_dead_letters}, {@code calsync_push_backlog}, {@code calsync_paused_grants}): read from
     * PostgreSQL as one snapshot, by one statement of indexed counts, taken when a scrape finds the last one older
     * than the refresh interval.
     *
     * @param refreshInterval The longest a scrape shows a snapshot for: scrapes within it share one; the database is
     *     asked at most once per interval, however many scrapes and gauges.
     * @param queryTimeout The snapshot's statement is cancelled after this; the gauges then show no value (NaN)
     *     until the next snapshot.
     */
    public record Metrics(
            @DefaultValue("5s") Duration refreshInterval,
            @DefaultValue("2s") Duration queryTimeout) {
    }
}
