package dev.calsync.walkthrough;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.DayOfWeek;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TimeZone;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.simulator.NylasSimulator.ReleaseOrder;
import dev.calsync.simulator.ProviderQuirks.GoogleCancellation;
import dev.calsync.simulator.ProviderQuirks.RecurrenceStyle;
import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.ServiceProcess;
import org.awaitility.core.ConditionTimeoutException;
import org.dmfs.rfc5545.DateTime;
import org.dmfs.rfc5545.recur.RecurrenceRule;
import org.dmfs.rfc5545.recur.RecurrenceRuleIterator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 11's walk-through of a recurring series, on the packaged jar ({@code ./mvnw verify} runs it against the jar
 * the same run packaged; {@code -Dwalkthrough.jar} names another). The service runs as a process of its own on
 * embedded PostgreSQL and Redis; the Nylas simulator plays the calendar and delivers its webhooks to the service's
 * listener. The test acts only through the application API (bearer token) and the simulated calendar's user, and
 * checks the database read-only.
 *
 * <p>In each provider style (and, for Google, a cancelled occurrence notified as {@code event.updated} and
 * {@code event.deleted}, as {@code event.deleted} alone or as {@code event.updated} alone) a series is made, its rule
 * changed, one occurrence edited, two occurrences cancelled (one on each side) and the series deleted, step by step
 * ({@link #walks()}: across the four walks each step happens on the application side and on the calendar side in both
 * styles), or its whole life on one side at once ({@link #wholeLivesAtOnce()}, then a series made and deleted before
 * any of its notifications arrives). Each step's notifications are held, then delivered as made, newest first or
 * shuffled, each one two or three times (one copy after the other, or at once). After each step both sides must show
 * the expected state, the records the application changed must be as they were before their echoes came back, and
 * both sides must stay as they are once nothing is left to do. Throughout, a watcher checks what must never happen: a
 * second live event or master record for the series, two records of one event, a cancelled occurrence live again.
 */
class RecurringSeriesWalkThroughIT {

    private static final String WEBHOOK_SECRET = "walkthrough-webhook-secret";
    private static final String API_TOKEN = "walkthrough-api-token";
    private static final String NYLAS_API_KEY = "walkthrough-nylas-key";
    private static final Path OUTPUT = Path.of("target", "walkthrough");

    private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");
    /** Mondays 09:00 in Berlin, from a week ahead; the k-th occurrence starts at {@code FIRST + k * WEEK}. */
    private static final long FIRST = ZonedDateTime.now(BERLIN).plusWeeks(1).with(DayOfWeek.MONDAY).withHour(9)
            .withMinute(0).withSecond(0).withNano(0).toEpochSecond();
    private static final long WEEK = 7 * 86_400;
    private static final long DURATION = 1800;
    private static final String TITLE = "Weekly sync";
    private static final String EDITED_TITLE = "Weekly sync (room 9)";
    private static final List<String> SIX_MONDAYS = List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6");
    /** Five Mondays, as a count (the calendar's user) or as an UNTIL (the application; Microsoft respells it). */
    private static final List<String> FIVE_MONDAYS = List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5");
    private static final List<String> FIVE_MONDAYS_UNTIL = List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL="
            + DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC)
            .format(Instant.ofEpochSecond(FIRST + 4 * WEEK)));
    private static final int EDITED = 1;
    private static final int CANCELLED_IN_APP = 2;
    private static final int CANCELLED_ON_CALENDAR = 3;
    private static final Duration STEP = Duration.ofSeconds(30);
    /** How long both sides must stay unchanged once nothing is left to do. */
    private static final Duration STILL = Duration.ofMillis(500);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static NylasSimulator nylas;
    private static ServiceProcess service;
    private static JdbcTemplate db;

    enum Side { APP, CALENDAR }

    /**
     * One walk: the provider's style, on which side each step happens, and the order the first step's notifications
     * are delivered in (the next steps take the next orders in turn).
     */
    record Walk(int number, String name, RecurrenceStyle style, GoogleCancellation notifies, Side made,
                Side ruleChanged, Side edited, Side deleted, ReleaseOrder firstOrder) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Step by step: each step's notifications delivered before the next step. */
    static Stream<Walk> walks() {
        return Stream.of(
                new Walk(1, "Google, a cancellation notified by update and delete: made in the app, deleted on the"
                        + " calendar", RecurrenceStyle.GOOGLE, GoogleCancellation.BOTH, Side.APP, Side.CALENDAR,
                        Side.CALENDAR, Side.CALENDAR, ReleaseOrder.AS_MADE),
                new Walk(2, "Google, a cancellation notified by delete alone: made on the calendar, deleted in the"
                        + " app", RecurrenceStyle.GOOGLE, GoogleCancellation.DELETED, Side.CALENDAR, Side.APP,
                        Side.APP, Side.APP, ReleaseOrder.NEWEST_FIRST),
                new Walk(3, "Microsoft: made in the app, deleted in the app", RecurrenceStyle.MICROSOFT,
                        GoogleCancellation.BOTH, Side.APP, Side.CALENDAR, Side.APP, Side.APP, ReleaseOrder.SHUFFLED),
                new Walk(4, "Microsoft: made on the calendar, deleted on the calendar", RecurrenceStyle.MICROSOFT,
                        GoogleCancellation.BOTH, Side.CALENDAR, Side.APP, Side.CALENDAR, Side.CALENDAR,
                        ReleaseOrder.NEWEST_FIRST));
    }

    /**
     * A series' whole life on one side (made, its rule changed, an occurrence edited, one cancelled) with every
     * notification held and then delivered together, newest first or shuffled; then the series deleted on the other
     * side.
     */
    static Stream<Walk> wholeLivesAtOnce() {
        return Stream.of(
                new Walk(5, "Google, on the calendar at once, newest first; deleted in the app", RecurrenceStyle.GOOGLE,
                        GoogleCancellation.UPDATED, Side.CALENDAR, Side.CALENDAR, Side.CALENDAR, Side.APP,
                        ReleaseOrder.NEWEST_FIRST),
                new Walk(6, "Google, in the app at once, shuffled; deleted on the calendar", RecurrenceStyle.GOOGLE,
                        GoogleCancellation.BOTH, Side.APP, Side.APP, Side.APP, Side.CALENDAR, ReleaseOrder.SHUFFLED),
                new Walk(7, "Microsoft, on the calendar at once, shuffled; deleted in the app",
                        RecurrenceStyle.MICROSOFT, GoogleCancellation.BOTH, Side.CALENDAR, Side.CALENDAR,
                        Side.CALENDAR, Side.APP, ReleaseOrder.SHUFFLED),
                new Walk(8, "Microsoft, in the app at once, newest first; deleted on the calendar",
                        RecurrenceStyle.MICROSOFT, GoogleCancellation.BOTH, Side.APP, Side.APP, Side.APP,
                        Side.CALENDAR, ReleaseOrder.NEWEST_FIRST));
    }

    // ------------------------------------------------------------------------------------------- the service

    @BeforeAll
    static void startThePackagedService() throws IOException {
        Path jar = ServiceProcess.packagedJar("walkthrough.jar");
        String jdbcUrl = EmbeddedServers.newDatabase("walkthrough");
        nylas = new NylasSimulator(NYLAS_API_KEY);
        Map<String, String> p = new LinkedHashMap<>();
        p.put("spring.datasource.url", jdbcUrl);
        p.put("spring.datasource.username", "postgres");
        p.put("spring.datasource.password", "postgres");
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + EmbeddedServers.redisPort());
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.routes-dir", Path.of("routes").toAbsolutePath().toString());
        // quick polls and retries: a walk is a few seconds, not minutes
        p.put("calsync.inbound.poll-delay-millis", "50");
        p.put("calsync.inbound.initial-backoff", "100ms");
        p.put("calsync.inbound.max-backoff", "400ms");
        p.put("calsync.push.poll-delay-millis", "50");
        p.put("calsync.push.redelivery-delay-millis", "50");
        p.put("calsync.push.max-redelivery-delay-millis", "1000");
        p.put("calsync.nylas.response-timeout-millis", "5000");
        // no calendar's reconciliation slot comes during the walk: it shows what live sync does alone
        p.put("calsync.reconcile.interval-millis", String.valueOf(30L * 24 * 3600 * 1000));
        service = new ServiceProcess(jar, OUTPUT, EmbeddedServers.freePort(), p, Map.of(
                "NYLAS_WEBHOOK_SECRET", WEBHOOK_SECRET, "APP_API_TOKEN", API_TOKEN, "NYLAS_API_KEY", NYLAS_API_KEY));
        service.start();
        await("the packaged service to take API calls and webhooks").atMost(Duration.ofSeconds(120))
                .pollInterval(Duration.ofMillis(200))
                .failFast("the service process exited; see " + OUTPUT.resolve("service-1.log"), () -> !service.alive())
                .ignoreExceptions()
                .until(() -> api("GET", "/api/v1/events?grant_id=none", null).statusCode() == 200
                        && send(HttpRequest.newBuilder(URI.create(service.webhookUrl() + "?challenge=ready"))
                        .GET().build()).statusCode() == 200);
        nylas.deliverWebhooksTo(WEBHOOK_SECRET, service.webhookUrl().toString());
        nylas.webhookRetryDelay(Duration.ofMillis(50), 3);

        DriverManagerDataSource reader = new DriverManagerDataSource(jdbcUrl, "postgres", "postgres");
        Properties readOnly = new Properties();
        readOnly.setProperty("options", "-c default_transaction_read_only=on"); // the test only looks
        reader.setConnectionProperties(readOnly);
        db = new JdbcTemplate(reader);
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
        if (nylas != null) {
            nylas.close();
        }
    }

    // ------------------------------------------------------------------------------------------- the walk

    @ParameterizedTest(name = "{0}")
    @MethodSource("walks")
    void aSeriesLivesAndIsDeletedAsOneOnBothSides(Walk walk) throws Exception {
        try (WalkThrough w = new WalkThrough(walk)) {
            w.seriesMade();
            w.ruleChanged();
            w.occurrenceEdited();
            w.occurrencesCancelledOnBothSides();
            w.seriesDeleted();
            w.finalChecks();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("wholeLivesAtOnce")
    void aSeriesWholeLifeDeliveredAtOnceEndsAsStepByStep(Walk walk) throws Exception {
        try (WalkThrough w = new WalkThrough(walk)) {
            w.wholeLifeAtOnce();
            w.seriesDeleted();
            w.seriesMadeAndDeletedOnTheCalendarAtOnce();
            w.finalChecks();
        }
    }

    /** One walk's state: its own grant, what both sides are expected to hold, and the watcher. */
    private static final class WalkThrough implements AutoCloseable {

        private final Walk walk;
        private final String grant;
        private final int variant;
        private final ScheduledExecutorService watcher = Executors.newSingleThreadScheduledExecutor();
        private final ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        /** Original starts of cancelled occurrences: live on neither side, ever again. */
        private final Set<Long> neverLive = ConcurrentHashMap.newKeySet();
        /** Original starts of the occurrences live on both sides once the step settles. */
        private final TreeSet<Long> live = new TreeSet<>();
        private final int duplicatedBefore;
        /** The records the application changed in the current step: their echoes must change nothing. */
        private final Set<String> changedInApp = new TreeSet<>();
        private volatile String masterEventId;
        private volatile String masterRecordId;
        private int step;

        WalkThrough(Walk walk) {
            this.walk = walk;
            this.variant = walk.number();
            this.grant = "grant-walk-" + variant;
            nylas.quirks.recurrenceStyle = walk.style();
            nylas.quirks.googleCancellation = walk.notifies();
            duplicatedBefore = nylas.webhookCount("duplicated");
            watcher.scheduleWithFixedDelay(this::watch, 100, 100, TimeUnit.MILLISECONDS);
        }

        // --------------------------------------------------------------------------------------- the steps

        void seriesMade() throws Exception {
            for (int k = 0; k < 6; k++) {
                live.add(FIRST + k * WEEK);
            }
            if (walk.made() == Side.APP) {
                String recordId = "walk-" + variant + "-series";
                step("series made", Side.APP, () -> {
                    HttpResponse<String> created = put(recordId,
                            master(TITLE, SIX_MONDAYS));
                    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
                    masterRecordId = recordId;
                }, () -> {
                    masterEventId = eventOf(masterRecordId);
                    assertThat(masterEventId).as("the series' event").isNotNull();
                    seriesAsExpected();
                });
                assertThat(recurrence(masterRecord().get("recurrence"))).isEqualTo(SIX_MONDAYS);
            } else {
                step("series made", Side.CALENDAR, () -> masterEventId = (String) nylas.userCreates(grant, "primary",
                        fields(TITLE, SIX_MONDAYS)).get("id"), () -> {
                    Map<String, Object> record = recordOfEvent(masterEventId);
                    assertThat(record).as("the master record").isNotNull();
                    masterRecordId = (String) record.get("id");
                    seriesAsExpected();
                });
                assertThat(recurrence(masterRecord().get("recurrence"))).isEqualTo(SIX_MONDAYS);
            }
        }

        void ruleChanged() throws Exception {
            live.remove(FIRST + 5 * WEEK);
            if (walk.ruleChanged() == Side.APP) {
                step("rule changed", Side.APP, () -> {
                    Map<String, Object> body = recordBody(masterRecordId);
                    body.put("recurrence", FIVE_MONDAYS_UNTIL);
                    HttpResponse<String> changed = put(masterRecordId, body);
                    assertThat(changed.statusCode()).as(changed.body()).isEqualTo(200);
                }, this::seriesAsExpected);
                assertThat(recurrence(masterRecord().get("recurrence"))).as("the application's rule, as it sent it")
                        .isEqualTo(FIVE_MONDAYS_UNTIL);
            } else {
                step("rule changed", Side.CALENDAR, () -> nylas.userChangesRule(grant, masterEventId, FIVE_MONDAYS),
                        () -> {
                            seriesAsExpected();
                            assertThat(recurrence(masterRecord().get("recurrence"))).isEqualTo(FIVE_MONDAYS);
                        });
            }
        }

        void occurrenceEdited() throws Exception {
            long start = FIRST + EDITED * WEEK;
            if (walk.edited() == Side.APP) {
                step("occurrence edited", Side.APP, () -> {
                    HttpResponse<String> edited = put("walk-" + variant + "-edited",
                            occurrence(start, EDITED_TITLE, "confirmed"));
                    assertThat(edited.statusCode()).as(edited.body()).isEqualTo(201);
                }, () -> editedAsExpected(start));
            } else {
                step("occurrence edited", Side.CALENDAR, () -> nylas.userEditsOccurrence(grant, masterEventId, start,
                        Map.of("title", EDITED_TITLE, "location", "Room 9")), () -> editedAsExpected(start));
            }
        }

        /** One occurrence cancelled in the application, then another on the calendar, their notifications together. */
        void occurrencesCancelledOnBothSides() throws Exception {
            long inApp = FIRST + CANCELLED_IN_APP * WEEK;
            long onCalendar = FIRST + CANCELLED_ON_CALENDAR * WEEK;
            live.remove(inApp);
            live.remove(onCalendar);
            step("occurrences cancelled", Side.APP, () -> {
                cancelInApp(inApp);
                awaitState("the application's cancellation pushed", this::pushed);
                nylas.userCancelsOccurrence(grant, masterEventId, onCalendar);
            }, () -> {
                editedAsExpected(FIRST + EDITED * WEEK);
                cancelledAsExpected(inApp, Side.APP);
                cancelledAsExpected(onCalendar, Side.CALENDAR);
            });
            neverLive.add(inApp);
            neverLive.add(onCalendar);
        }

        /**
         * Made, its rule changed, an occurrence edited and one cancelled, all on one side, every notification held
         * until the end (an application change: each pushed before the next).
         */
        void wholeLifeAtOnce() throws Exception {
            long edited = FIRST + EDITED * WEEK;
            long cancelled = FIRST + (walk.made() == Side.APP ? CANCELLED_IN_APP : CANCELLED_ON_CALENDAR) * WEEK;
            for (int k = 0; k < 5; k++) {
                live.add(FIRST + k * WEEK);
            }
            live.remove(cancelled);
            if (walk.made() == Side.APP) {
                String recordId = "walk-" + variant + "-series";
                step("series made, its rule changed, an occurrence edited and one cancelled", Side.APP, () -> {
                    HttpResponse<String> created = put(recordId,
                            master(TITLE, SIX_MONDAYS));
                    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
                    masterRecordId = recordId;
                    awaitState("the series pushed", this::pushed);
                    masterEventId = eventOf(recordId);
                    Map<String, Object> body = recordBody(recordId);
                    body.put("recurrence", FIVE_MONDAYS_UNTIL);
                    HttpResponse<String> changed = put(recordId, body);
                    assertThat(changed.statusCode()).as(changed.body()).isEqualTo(200);
                    awaitState("the rule pushed", this::pushed);
                    HttpResponse<String> edit = put("walk-" + variant + "-edited",
                            occurrence(edited, EDITED_TITLE, "confirmed"));
                    assertThat(edit.statusCode()).as(edit.body()).isEqualTo(201);
                    awaitState("the edit pushed", this::pushed);
                    cancelInApp(cancelled);
                }, () -> {
                    editedAsExpected(edited);
                    cancelledAsExpected(cancelled, Side.APP);
                });
                if (walk.style() == RecurrenceStyle.GOOGLE) {
                    // Microsoft's cancellation is the master's EXDATE: the master record takes the calendar's rule
                    assertThat(recurrence(masterRecord().get("recurrence")))
                            .as("the application's rule, as it sent it; its echoes in any order change nothing")
                            .isEqualTo(FIVE_MONDAYS_UNTIL);
                }
            } else {
                step("series made, its rule changed, an occurrence edited and one cancelled", Side.CALENDAR, () -> {
                    masterEventId = (String) nylas.userCreates(grant, "primary", fields(TITLE, SIX_MONDAYS))
                            .get("id");
                    nylas.userChangesRule(grant, masterEventId, FIVE_MONDAYS);
                    nylas.userEditsOccurrence(grant, masterEventId, edited,
                            Map.of("title", EDITED_TITLE, "location", "Room 9"));
                    nylas.userCancelsOccurrence(grant, masterEventId, cancelled);
                }, () -> {
                    Map<String, Object> record = recordOfEvent(masterEventId);
                    assertThat(record).as("the master record").isNotNull();
                    masterRecordId = (String) record.get("id");
                    editedAsExpected(edited);
                    cancelledAsExpected(cancelled, Side.CALENDAR);
                    assertThat(recurrence(record.get("recurrence")).get(0)).isEqualTo(FIVE_MONDAYS.get(0));
                });
            }
            neverLive.add(cancelled);
        }

        void seriesDeleted() throws Exception {
            live.clear();
            if (walk.deleted() == Side.APP) {
                step("series deleted", Side.APP, () -> {
                    HttpResponse<String> deleted = api("DELETE", "/api/v1/events/" + masterRecordId, null);
                    assertThat(deleted.statusCode()).as(deleted.body()).isEqualTo(202);
                }, this::seriesGone);
            } else {
                step("series deleted", Side.CALENDAR, () -> nylas.userDeletes(grant, masterEventId), this::seriesGone);
            }
        }

        /**
         * A series made and deleted on the calendar before any of its notifications arrives: whatever the order, the
         * master's notification finds its series gone and the delete follows; nothing of it stays in the application.
         */
        void seriesMadeAndDeletedOnTheCalendarAtOnce() throws Exception {
            String[] made = new String[1];
            step("another series made and deleted", Side.CALENDAR, () -> {
                made[0] = (String) nylas.userCreates(grant, "primary", fields("Gone at once", SIX_MONDAYS)).get("id");
                nylas.userDeletes(grant, made[0]);
            }, () -> {
                assertThat(nylas.liveEvents(grant, "primary")).isEmpty();
                assertThat(db.queryForList("SELECT id FROM app_event WHERE grant_id = ?", String.class, grant))
                        .as("records").isEmpty();
                assertThat(db.queryForList("SELECT sync_state FROM event_sync_map WHERE grant_id = ?"
                        + " AND nylas_event_id = ?", String.class, grant, made[0])).as("its mapping: a tombstone")
                        .containsExactly("deleted");
                assertThat(quiet()).as("every notification finished").isTrue();
            });
        }

        void finalChecks() {
            long creates = nylas.timedRequests().stream().filter(r -> grant.equals(r.grantId()))
                    .filter(r -> r.line().startsWith("POST ")).count();
            assertThat(creates).as("events created on the calendar: the series once if the application made it,"
                    + " never an occurrence").isEqualTo(walk.made() == Side.APP ? 1 : 0);
            List<Map<String, Object>> sent = nylas.sentNotifications().stream()
                    .filter(n -> n.get("data") instanceof Map<?, ?> d && d.get("object") instanceof Map<?, ?> o
                            && grant.equals(o.get("grant_id"))).toList();
            long distinct = sent.stream().map(n -> n.get("id")).distinct().count();
            assertThat(sent.size()).as("deliveries, duplicates included").isGreaterThan((int) distinct);
            assertThat(nylas.webhookCount("duplicated")).isGreaterThan(duplicatedBefore);
            assertThat(count("SELECT count(*) FROM webhook_inbox WHERE grant_id = ?", grant))
                    .as("every notification stored once").isEqualTo((int) distinct);
            assertThat(db.queryForList("""
                    SELECT object_id FROM webhook_inbox WHERE grant_id = ? AND outcome IN ('created', 'relinked')
                     GROUP BY object_id HAVING count(*) > 1""", String.class, grant))
                    .as("events that made a record more than once").isEmpty();
            assertThat(violations).as("what must never happen").isEmpty();
        }

        // ------------------------------------------------------------------------------------ one step

        /**
         * Holds the notifications while the change is made (an application change: until its push is done), then
         * delivers them in this step's order, each two or three times, and awaits the expected state on both sides;
         * once nothing is left to do, the state must be unchanged and stay so.
         */
        private void step(String what, Side side, ThrowingRunnable change, ThrowingRunnable expected)
                throws Exception {
            ReleaseOrder order = ReleaseOrder.values()[(walk.firstOrder().ordinal() + step)
                    % ReleaseOrder.values().length];
            boolean atOnce = (variant + step) % 2 == 0;
            step++;
            String name = walk + ": " + what + " (" + side.name().toLowerCase() + "), notifications "
                    + order.name().toLowerCase().replace('_', ' ') + ", duplicates "
                    + (atOnce ? "at once" : "one after the other");
            nylas.pauseWebhooks();
            changedInApp.clear();
            change.run();
            Map<String, Object> pushed = null;
            if (side == Side.APP) {
                awaitState(name + ": pushed", this::pushed);
                if (walk.style() == RecurrenceStyle.MICROSOFT && changedInApp.stream().anyMatch(this::isCancelled)) {
                    // Microsoft's cancellation is an EXDATE on the master: the master record takes it
                    changedInApp.remove(masterRecordId);
                }
                pushed = asWritten(changedInApp);
            }
            nylas.faults.rateDuplicate = 1;
            nylas.faults.concurrentDuplicates = atOnce;
            nylas.releaseWebhooks(order, true);
            awaitState(name, () -> {
                expected.run();
                return true;
            });
            awaitState(name + ": nothing left to do", this::quiet);
            expected.run();
            if (pushed != null && !changedInApp.isEmpty()) {
                assertThat(asWritten(changedInApp)).as(name + ": the records the application changed, after their"
                        + " echoes (duplicated, in this order) came back").isEqualTo(pushed);
            }
            Map<String, Object> settled = snapshot();
            try {
                await().during(STILL).atMost(STILL.plusSeconds(5)).pollInterval(Duration.ofMillis(50))
                        .until(() -> quiet() && snapshot().equals(settled));
            } catch (ConditionTimeoutException e) {
                throw new AssertionError(name + ": changed after it settled (an echo changed something)\nbefore: "
                        + settled + "\nafter:  " + snapshot() + diagnostics(), e);
            }
            assertThat(violations).as(name + ": what must never happen").isEmpty();
        }

        private void awaitState(String what, Callable<Boolean> condition) {
            Throwable[] last = new Throwable[1];
            try {
                await(what).atMost(STEP).pollInterval(Duration.ofMillis(50))
                        .failFast("a dead notification or a failed push", this::failed)
                        .until(() -> {
                            try {
                                boolean ok = condition.call();
                                last[0] = null;
                                return ok;
                            } catch (AssertionError | RuntimeException e) {
                                last[0] = e;
                                return false;
                            }
                        });
            } catch (ConditionTimeoutException | org.awaitility.core.TerminalFailureException e) {
                AssertionError error = new AssertionError(what + ": " + e.getMessage()
                        + (last[0] == null ? "" : "\nlast check: " + last[0]) + diagnostics(), e);
                throw error;
            }
        }

        // ------------------------------------------------------------------------------ expected states

        /** One master on each side, the rule making the occurrences expected live on both. */
        private void seriesAsExpected() throws Exception {
            List<Map<String, Object>> events = nylas.liveEvents(grant, "primary");
            assertThat(events).as("live events on the calendar: the master alone").singleElement()
                    .satisfies(e -> assertThat(e).containsEntry("id", masterEventId).containsEntry("title", TITLE));
            Map<String, Object> master = events.get(0);
            assertThat((List<?>) master.get("recurrence")).isNotEmpty();
            if (walk.made() == Side.APP || master.get("metadata") instanceof Map<?, ?>) {
                assertThat(master.get("metadata")).as("the master's metadata")
                        .isEqualTo(Map.of("key1", masterRecordId));
                assertThat(nylas.countWithKey1(grant, masterRecordId, false)).isEqualTo(1);
            }
            assertThat(calendarLiveStarts()).as("occurrences live on the calendar").isEqualTo(live);

            Map<String, Object> record = masterRecord();
            assertThat(record).as("the master record").isNotNull().containsEntry("id", masterRecordId)
                    .containsEntry("title", TITLE).containsEntry("status", "confirmed")
                    .containsEntry("master_record_id", null).containsEntry("sync_state", "synced");
            assertThat(applicationLiveStarts(record)).as("occurrences live in the application").isEqualTo(live);
            assertThat(db.queryForList("SELECT id FROM app_event WHERE grant_id = ? AND master_record_id IS NULL",
                    String.class, grant)).as("records that are not an occurrence: the master alone")
                    .containsExactly(masterRecordId);
        }

        /** The edited occurrence: its record linked to its master and to its override, the override edited. */
        private void editedAsExpected(long start) throws Exception {
            seriesAsExpected();
            String occurrenceId = NylasSimulator.occurrenceId(masterEventId, start);
            Map<String, Object> override = nylas.event(grant, occurrenceId);
            assertThat(override).as("the override on the calendar").isNotNull()
                    .containsEntry("title", EDITED_TITLE).containsEntry("master_event_id", masterEventId)
                    .containsEntry("status", "confirmed");
            assertThat(((Number) override.get("original_start_time")).longValue()).isEqualTo(start);
            assertThat(occurrenceRecordAt(start)).as("the edited occurrence's record")
                    .containsEntry("title", EDITED_TITLE).containsEntry("status", "confirmed")
                    .containsEntry("master_record_id", masterRecordId).containsEntry("nylas_event_id", occurrenceId)
                    .containsEntry("sync_state", "synced");
        }

        /** The occurrence cancelled in the application: a cancelled occurrence record. */
        private void cancelInApp(long start) throws IOException {
            HttpResponse<String> cancelled = put(cancelledRecordId(start),
                    occurrence(start, TITLE, "cancelled"));
            assertThat(cancelled.statusCode()).as(cancelled.body()).isEqualTo(201);
        }

        /** {@code PUT /api/v1/events/{id}}, noting the record as changed by the application in this step. */
        private HttpResponse<String> put(String id, Map<String, Object> body) throws IOException {
            HttpResponse<String> answer = api("PUT", "/api/v1/events/" + id, body);
            if (answer.statusCode() == 200 || answer.statusCode() == 201) {
                changedInApp.add(id);
            }
            return answer;
        }

        private String cancelledRecordId(long start) {
            return "walk-" + variant + "-cancelled-" + (start - FIRST) / WEEK;
        }

        /**
         * A cancelled occurrence: live on neither side (see {@link #seriesAsExpected}); Google keeps it as a cancelled
         * override, Microsoft as an EXDATE on the master. Cancelled in the application, its record stays, cancelled;
         * cancelled on the calendar, it is a cancelled occurrence record (Google) or the master record's EXDATE
         * (Microsoft).
         */
        private void cancelledAsExpected(long start, Side side) throws Exception {
            seriesAsExpected();
            if (walk.style() == RecurrenceStyle.GOOGLE) {
                assertThat(nylas.event(grant, NylasSimulator.occurrenceId(masterEventId, start)))
                        .as("Google keeps a cancelled occurrence as a cancelled override")
                        .containsEntry("status", "cancelled");
            } else {
                assertThat(exdates(nylas.event(grant, masterEventId).get("recurrence")))
                        .as("Microsoft excludes the date from the master's rule").contains(start);
            }
            if (side == Side.APP) {
                assertThat(record(cancelledRecordId(start))).as("the application's cancelled occurrence record")
                        .containsEntry("status", "cancelled").containsEntry("master_record_id", masterRecordId)
                        .containsEntry("original_start_time", start);
            } else if (walk.style() == RecurrenceStyle.GOOGLE) {
                assertThat(occurrenceRecordAt(start)).as("a cancelled occurrence record")
                        .containsEntry("status", "cancelled");
            } else {
                assertThat(exdates(masterRecord().get("recurrence"))).as("an EXDATE on the master record's rule")
                        .contains(start);
            }
        }

        /** Nothing of the series is live on either side; its records and their mappings are gone (tombstones). */
        private void seriesGone() throws Exception {
            assertThat(nylas.liveEvents(grant, "primary")).as("live events on the calendar").isEmpty();
            assertThat(nylas.occurrences(grant, masterEventId, FIRST - WEEK, FIRST + 10 * WEEK)).isEmpty();
            assertThat(nylas.countWithKey1(grant, masterRecordId, false)).isZero();
            assertThat(db.queryForList("SELECT id FROM app_event WHERE grant_id = ?", String.class, grant))
                    .as("records of the series").isEmpty();
            assertThat(db.queryForList("SELECT internal_id || ' ' || sync_state FROM event_sync_map"
                    + " WHERE grant_id = ? AND sync_state <> 'deleted'", String.class, grant))
                    .as("mappings not tombstoned").isEmpty();
            HttpResponse<String> listed = api("GET", "/api/v1/events?grant_id=" + grant, null);
            assertThat(JSON.readTree(listed.body()).path("data").size()).as(listed.body()).isZero();
        }

        // ---------------------------------------------------------------------------------- the watcher

        /** What must never happen, checked every 100 ms while the walk runs. */
        private void watch() {
            try {
                List<Map<String, Object>> events = nylas.liveEvents(grant, null);
                if (events.size() > 1) {
                    violations.add("more than one live event on the calendar: " + events.stream()
                            .map(e -> e.get("id") + " " + e.get("metadata")).toList());
                }
                String masterEvent = masterEventId;
                if (masterEvent != null) {
                    for (Map<String, Object> o : nylas.occurrences(grant, masterEvent, FIRST - WEEK,
                            FIRST + 10 * WEEK)) {
                        if (neverLive.contains(((Number) o.get("original_start_time")).longValue())) {
                            violations.add("a cancelled occurrence is live on the calendar: " + o.get("id"));
                        }
                    }
                }
                List<String> masters = db.queryForList(
                        "SELECT id FROM app_event WHERE grant_id = ? AND master_record_id IS NULL", String.class, grant);
                if (masters.size() > 1) {
                    violations.add("more than one master record: " + masters);
                }
                for (Long start : neverLive) {
                    List<String> liveRecords = db.queryForList("SELECT id FROM app_event WHERE grant_id = ?"
                            + " AND original_start_time = ? AND status = 'confirmed'", String.class, grant, start);
                    if (!liveRecords.isEmpty()) {
                        violations.add("a cancelled occurrence has a live record: " + liveRecords);
                    }
                }
                List<String> twice = db.queryForList("""
                        SELECT nylas_event_id FROM event_sync_map WHERE grant_id = ? AND nylas_event_id IS NOT NULL
                         GROUP BY nylas_event_id HAVING count(*) > 1""", String.class, grant);
                if (!twice.isEmpty()) {
                    violations.add("events with more than one record: " + twice);
                }
            } catch (RuntimeException e) {
                violations.add("the watcher failed: " + e);
            }
        }

        // ---------------------------------------------------------------------------------- what is there

        private boolean pushed() {
            return count("SELECT count(*) FROM event_sync_map WHERE grant_id = ? AND sync_state = 'pending'",
                    grant) == 0 && nylas.callsQuiet();
        }

        private boolean quiet() {
            return nylas.webhooksQuiet() && pushed() && count("SELECT count(*) FROM webhook_inbox WHERE grant_id = ?"
                    + " AND status IN ('received', 'processing')", grant) == 0;
        }

        private boolean failed() {
            return count("SELECT count(*) FROM webhook_inbox WHERE grant_id = ? AND status = 'dead'", grant) > 0
                    || count("SELECT count(*) FROM event_sync_map WHERE grant_id = ? AND sync_state = 'failed'",
                    grant) > 0;
        }

        /** Records as stored, with their mappings (content hash, state, the event's updated_at as pushed). */
        private Map<String, Object> asWritten(Set<String> ids) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (String id : ids) {
                out.put(id, db.queryForList("""
                        SELECT e.*, m.nylas_event_id, m.sync_state, m.desired, m.content_hash, m.remote_updated_at,
                               m.version
                          FROM app_event e LEFT JOIN event_sync_map m ON m.internal_id = e.id WHERE e.id = ?""", id));
            }
            return out;
        }

        private boolean isCancelled(String id) {
            return count("SELECT count(*) FROM app_event WHERE id = ? AND status = 'cancelled'", id) > 0;
        }

        /** Both sides as they are: records, mappings, events and overrides, write calls, stored notifications. */
        private Map<String, Object> snapshot() {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("records", db.queryForList("""
                    SELECT id, title, location, status, recurrence::text AS recurrence, master_record_id,
                           original_start_time, updated_at FROM app_event WHERE grant_id = ? ORDER BY id""", grant));
            s.put("mappings", db.queryForList("""
                    SELECT internal_id, nylas_event_id, sync_state, desired, content_hash, remote_updated_at, version
                      FROM event_sync_map WHERE grant_id = ? ORDER BY internal_id""", grant));
            s.put("events", nylas.allEvents(grant).stream().map(e -> List.of(String.valueOf(e.get("id")),
                    String.valueOf(e.get("status")), String.valueOf(e.get("updated_at")),
                    String.valueOf(e.get("recurrence")))).toList());
            String masterEvent = masterEventId;
            s.put("occurrences", masterEvent == null ? List.of()
                    : nylas.occurrences(grant, masterEvent, FIRST - WEEK, FIRST + 10 * WEEK).stream()
                    .map(o -> o.get("id") + " " + o.get("updated_at") + " " + o.get("title")).toList());
            s.put("writes", nylas.timedRequests().stream().filter(r -> grant.equals(r.grantId()))
                    .filter(r -> !r.line().startsWith("GET ")).count());
            s.put("notifications", count("SELECT count(*) FROM webhook_inbox WHERE grant_id = ?", grant));
            return s;
        }

        /** The master record with its mapping, found by the series' event. */
        private Map<String, Object> masterRecord() {
            return recordOfEvent(masterEventId);
        }

        private Map<String, Object> recordOfEvent(String eventId) {
            List<Map<String, Object>> rows = db.queryForList("""
                    SELECT e.id, e.title, e.status, e.recurrence::text AS recurrence, e.master_record_id,
                           e.original_start_time, m.nylas_event_id, m.sync_state
                      FROM app_event e JOIN event_sync_map m ON m.internal_id = e.id
                     WHERE m.grant_id = ? AND m.nylas_event_id = ?""", grant, eventId);
            return rows.isEmpty() ? null : rows.get(0);
        }

        private Map<String, Object> record(String id) {
            List<Map<String, Object>> rows = db.queryForList("""
                    SELECT e.id, e.title, e.status, e.master_record_id, e.original_start_time, m.nylas_event_id,
                           m.sync_state
                      FROM app_event e LEFT JOIN event_sync_map m ON m.internal_id = e.id WHERE e.id = ?""", id);
            return rows.isEmpty() ? null : rows.get(0);
        }

        /** The one occurrence record of the series starting originally at {@code start} (fails if not one). */
        private Map<String, Object> occurrenceRecordAt(long start) {
            List<Map<String, Object>> rows = db.queryForList("""
                    SELECT e.id, e.title, e.status, e.master_record_id, e.original_start_time, m.nylas_event_id,
                           m.sync_state
                      FROM app_event e LEFT JOIN event_sync_map m ON m.internal_id = e.id
                     WHERE e.master_record_id = ? AND e.original_start_time = ?""", masterRecordId, start);
            assertThat(rows).as("occurrence records starting originally at " + start).hasSize(1);
            return rows.get(0);
        }

        private String eventOf(String recordId) {
            List<String> ids = db.queryForList("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = ?"
                    + " AND sync_state = 'synced'", String.class, recordId);
            return ids.isEmpty() ? null : ids.get(0);
        }

        private Set<Long> calendarLiveStarts() {
            return nylas.occurrences(grant, masterEventId, FIRST - WEEK, FIRST + 10 * WEEK).stream()
                    .map(o -> ((Number) o.get("original_start_time")).longValue())
                    .collect(Collectors.toCollection(TreeSet::new));
        }

        /**
         * The occurrences the application holds live: what the master record's rule makes (its EXDATEs left out),
         * without those with a cancelled occurrence record.
         */
        private Set<Long> applicationLiveStarts(Map<String, Object> master) throws Exception {
            Set<Long> starts = expand(recurrence(master.get("recurrence")));
            starts.removeAll(db.queryForList("SELECT original_start_time FROM app_event WHERE master_record_id = ?"
                    + " AND status = 'cancelled'", Long.class, masterRecordId));
            List<Long> orphans = db.queryForList("SELECT original_start_time FROM app_event"
                    + " WHERE master_record_id = ? AND status = 'confirmed'", Long.class, masterRecordId);
            assertThat(starts).as("live occurrence records the rule does not make").containsAll(orphans);
            return starts;
        }

        /** The EXDATEs of a recurrence: a record's column (JSON text) or an event's list. */
        private Set<Long> exdates(Object recurrence) throws Exception {
            Set<Long> excluded = new TreeSet<>();
            List<?> entries = recurrence instanceof List<?> list ? list : recurrence(recurrence);
            for (Object item : entries) {
                String entry = String.valueOf(item);
                if (entry.startsWith("EXDATE")) {
                    excluded.addAll(exdate(entry));
                }
            }
            return excluded;
        }

        // --------------------------------------------------------------------------------- API bodies

        private Map<String, Object> fields(String title, List<String> recurrence) {
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("title", title);
            f.put("when", when(FIRST));
            f.put("participants", List.of(Map.of("email", "ada@example.com")));
            f.put("recurrence", recurrence);
            return f;
        }

        private Map<String, Object> master(String title, List<String> recurrence) {
            Map<String, Object> body = fields(title, recurrence);
            body.put("grant_id", grant);
            body.put("calendar_id", "primary");
            return body;
        }

        private Map<String, Object> occurrence(long originalStart, String title, String status) {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("grant_id", grant);
            body.put("calendar_id", "primary");
            body.put("title", title);
            body.put("when", when(originalStart));
            body.put("participants", List.of(Map.of("email", "ada@example.com")));
            body.put("master_record_id", masterRecordId);
            body.put("original_start_time", originalStart);
            body.put("status", status);
            return body;
        }

        /** The record as the API gives it, reduced to what a PUT takes. */
        private Map<String, Object> recordBody(String id) throws IOException {
            HttpResponse<String> got = api("GET", "/api/v1/events/" + id, null);
            assertThat(got.statusCode()).as(got.body()).isEqualTo(200);
            Map<String, Object> record = JSON.readValue(got.body(), new TypeReference<>() {
            });
            Map<String, Object> body = new LinkedHashMap<>();
            for (String field : List.of("grant_id", "calendar_id", "title", "description", "location", "when",
                    "participants", "recurrence", "status", "master_record_id", "original_start_time")) {
                if (record.get(field) != null) {
                    body.put(field, record.get(field));
                }
            }
            return body;
        }

        private int count(String sql, Object... args) {
            return RecurringSeriesWalkThroughIT.count(sql, args);
        }

        private String diagnostics() {
            StringBuilder out = new StringBuilder("\n--- records\n");
            db.queryForList("""
                    SELECT e.id, e.title, e.status, e.recurrence::text AS recurrence, e.master_record_id,
                           e.original_start_time, m.nylas_event_id, m.sync_state, m.desired, m.last_error
                      FROM event_sync_map m LEFT JOIN app_event e ON e.id = m.internal_id
                     WHERE m.grant_id = ? ORDER BY m.internal_id""", grant).forEach(r -> out.append(r).append('\n'));
            out.append("--- notifications\n");
            db.queryForList("""
                    SELECT notification_id, type, object_id, status, outcome, attempts, last_error FROM webhook_inbox
                     WHERE grant_id = ? ORDER BY received_at, notification_id""", grant)
                    .forEach(r -> out.append(r).append('\n'));
            out.append("--- calendar\n");
            nylas.allEvents(grant).forEach(e -> out.append(e).append('\n'));
            if (masterEventId != null) {
                nylas.occurrences(grant, masterEventId, FIRST - WEEK, FIRST + 10 * WEEK)
                        .forEach(o -> out.append("  ").append(o).append('\n'));
            }
            out.append("--- violations ").append(violations).append('\n');
            out.append("--- service log (warnings and errors): ").append(OUTPUT.resolve("service-1.log")).append('\n');
            try (Stream<String> lines = Files.lines(OUTPUT.resolve("service-1.log"))) {
                List<String> warnings = lines.filter(l -> l.contains(" WARN ") || l.contains(" ERROR ")).toList();
                warnings.subList(Math.max(0, warnings.size() - 20), warnings.size())
                        .forEach(l -> out.append(l).append('\n'));
            } catch (IOException | UncheckedIOException e) {
                out.append(e).append('\n');
            }
            return out.toString();
        }

        @Override
        public void close() {
            watcher.shutdownNow();
            nylas.faults.reset();
            nylas.releaseWebhooks(false); // nothing held stays for the next walk
        }
    }

    // ------------------------------------------------------------------------------------------- helpers

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static Map<String, Object> when(long start) {
        return Map.of("start_time", start, "end_time", start + DURATION, "start_timezone", "Europe/Berlin",
                "end_timezone", "Europe/Berlin");
    }

    private static List<String> recurrence(Object column) throws IOException {
        return column == null ? List.of() : JSON.readValue(column.toString(), new TypeReference<List<String>>() {
        });
    }

    /** The starts (Unix s) a recurrence makes from {@link #FIRST} in Berlin, its EXDATEs left out (lib-recur). */
    private static Set<Long> expand(List<String> recurrence) throws Exception {
        Set<Long> starts = new TreeSet<>();
        Set<Long> excluded = new TreeSet<>();
        for (String entry : recurrence) {
            if (entry.startsWith("RRULE:")) {
                RecurrenceRuleIterator it = new RecurrenceRule(entry.substring("RRULE:".length()))
                        .iterator(new DateTime(TimeZone.getTimeZone(BERLIN), FIRST * 1000));
                for (int i = 0; i < 100 && it.hasNext(); i++) {
                    starts.add(it.nextMillis() / 1000);
                }
            } else if (entry.startsWith("EXDATE")) {
                excluded.addAll(exdate(entry));
            }
        }
        starts.removeAll(excluded);
        return starts;
    }

    /** {@code EXDATE:20300121T080000Z[,…]} or {@code EXDATE;TZID=Europe/Berlin:20300121T090000[,…]}. */
    private static List<Long> exdate(String entry) {
        int colon = entry.indexOf(':');
        String parameters = entry.substring("EXDATE".length(), colon);
        TimeZone zone = parameters.startsWith(";TZID=")
                ? TimeZone.getTimeZone(ZoneId.of(parameters.substring(";TZID=".length()))) : DateTime.UTC;
        List<Long> out = new ArrayList<>();
        for (String value : entry.substring(colon + 1).split(",")) {
            out.add(DateTime.parse(zone, value.trim()).getTimestamp() / 1000);
        }
        return out;
    }

    private static int count(String sql, Object... args) {
        Integer n = db.queryForObject(sql, Integer.class, args);
        return n == null ? 0 : n;
    }

    private static HttpResponse<String> api(String method, String path, Object body) throws IOException {
        HttpRequest.Builder request = HttpRequest.newBuilder(service.url(path)).timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + API_TOKEN);
        if (body == null) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            request.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        }
        return send(request.build());
    }

    private static HttpResponse<String> send(HttpRequest request) throws IOException {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
