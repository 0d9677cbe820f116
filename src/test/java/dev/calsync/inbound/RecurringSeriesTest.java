package dev.calsync.inbound;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.ProviderQuirks;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A recurring series both ways, in both provider styles: the series made on either side is one master record with
 * its rule; its rule changed alone is a change; an edited occurrence is a record of its own linked to its master (the
 * master untouched, though the occurrence carries the master's metadata); a cancelled occurrence is never live (a
 * cancelled occurrence record, or an EXDATE on the master's rule); the series deleted on either side takes its
 * occurrence records with it; echoes change nothing.
 */
class RecurringSeriesTest extends IntegrationTest {

    private static final String GRANT = "grant-series";
    private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");
    /** Mondays 09:00 in Berlin, from a week ahead. */
    private static final long FIRST = ZonedDateTime.now(BERLIN).plusWeeks(1).with(java.time.DayOfWeek.MONDAY)
            .withHour(9).withMinute(0).withSecond(0).withNano(0).toEpochSecond();
    private static final long WEEK = 7 * 86_400;
    private static final List<String> WEEKLY = List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6");

    private final ObjectMapper json = new ObjectMapper();

    private static Map<String, Object> series(String title, List<String> recurrence) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("title", title);
        f.put("when", Map.of("start_time", FIRST, "end_time", FIRST + 1800, "start_timezone", "Europe/Berlin",
                "end_timezone", "Europe/Berlin"));
        f.put("participants", List.of(Map.of("email", "ada@example.com")));
        f.put("recurrence", recurrence);
        return f;
    }

    private Map<String, Object> recordOfEvent(String eventId) {
        await().atMost(Duration.ofSeconds(20)).until(() -> localRecordByEvent(GRANT, eventId) != null);
        return localRecordByEvent(GRANT, eventId);
    }

    private List<Map<String, Object>> occurrenceRecords(String masterRecordId) {
        return jdbc.queryForList("SELECT * FROM app_event WHERE master_record_id = ? ORDER BY original_start_time",
                masterRecordId);
    }

    private List<String> recurrence(Object column) throws Exception {
        return json.readValue(column.toString(), json.getTypeFactory().constructCollectionType(List.class,
                String.class));
    }

    private String createOnCalendar(ProviderQuirks.RecurrenceStyle style) {
        NYLAS.quirks.recurrenceStyle = style;
        String masterId = (String) NYLAS.userCreates(GRANT, "primary", series("Weekly sync", WEEKLY)).get("id");
        recordOfEvent(masterId);
        awaitQuiet();
        return masterId;
    }

    @ParameterizedTest
    @EnumSource(ProviderQuirks.RecurrenceStyle.class)
    void aSeriesMadeOnTheCalendarIsOneMasterRecordWithItsRule(ProviderQuirks.RecurrenceStyle style) throws Exception {
        String masterId = createOnCalendar(style);

        Map<String, Object> master = recordOfEvent(masterId);
        assertThat(master).containsEntry("title", "Weekly sync").containsEntry("status", "confirmed");
        assertThat(recurrence(master.get("recurrence"))).hasSize(1).first().asString().startsWith("RRULE:FREQ=WEEKLY");
        assertThat(count("SELECT count(*) FROM app_event")).as("one record for the whole series").isEqualTo(1);
    }

    @ParameterizedTest
    @EnumSource(ProviderQuirks.RecurrenceStyle.class)
    void aChangeOfTheRuleAloneIsAChange(ProviderQuirks.RecurrenceStyle style) throws Exception {
        String masterId = createOnCalendar(style);

        NYLAS.userChangesRule(GRANT, masterId, List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"));

        await().atMost(Duration.ofSeconds(20)).until(() ->
                recurrence(recordOfEvent(masterId).get("recurrence")).get(0).contains("COUNT=3"));
        assertThat(recordOfEvent(masterId)).containsEntry("title", "Weekly sync");
    }

    @ParameterizedTest
    @EnumSource(value = ProviderQuirks.GoogleCancellation.class)
    void aCancelledOccurrenceOnGoogleIsACancelledOccurrenceRecord(ProviderQuirks.GoogleCancellation notifies) {
        String masterId = createOnCalendar(ProviderQuirks.RecurrenceStyle.GOOGLE);
        NYLAS.quirks.googleCancellation = notifies;
        String masterRecord = (String) recordOfEvent(masterId).get("id");

        NYLAS.userCancelsOccurrence(GRANT, masterId, FIRST + WEEK);

        await().atMost(Duration.ofSeconds(20)).until(() -> !occurrenceRecords(masterRecord).isEmpty());
        awaitQuiet();
        assertThat(occurrenceRecords(masterRecord)).singleElement().satisfies(o -> assertThat(o)
                .containsEntry("status", "cancelled").containsEntry("original_start_time", FIRST + WEEK));
        assertThat(recordOfEvent(masterId)).containsEntry("title", "Weekly sync").containsEntry("status", "confirmed");
    }

    @Test
    void aCancelledOccurrenceOnMicrosoftIsAnExcludedDateOfTheMastersRule() {
        String masterId = createOnCalendar(ProviderQuirks.RecurrenceStyle.MICROSOFT);

        NYLAS.userCancelsOccurrence(GRANT, masterId, FIRST + WEEK);

        await().atMost(Duration.ofSeconds(20)).until(() ->
                recurrence(recordOfEvent(masterId).get("recurrence")).stream().anyMatch(l -> l.startsWith("EXDATE")));
        assertThat(occurrenceRecords((String) recordOfEvent(masterId).get("id"))).isEmpty();
    }

    @Test
    void anEditedOccurrenceIsARecordLinkedToItsMasterAndTheMasterStaysAsItWas() {
        String masterId = createOnCalendar(ProviderQuirks.RecurrenceStyle.GOOGLE);
        String masterRecord = (String) recordOfEvent(masterId).get("id");

        Map<String, Object> edited = NYLAS.userEditsOccurrence(GRANT, masterId, FIRST + 2 * WEEK,
                Map.of("title", "Weekly sync (moved room)", "location", "Room 9"));

        await().atMost(Duration.ofSeconds(20)).until(() -> !occurrenceRecords(masterRecord).isEmpty());
        awaitQuiet();
        assertThat(edited).containsEntry("master_event_id", masterId);
        assertThat(occurrenceRecords(masterRecord)).singleElement().satisfies(o -> assertThat(o)
                .containsEntry("title", "Weekly sync (moved room)").containsEntry("location", "Room 9")
                .containsEntry("original_start_time", FIRST + 2 * WEEK).containsEntry("status", "confirmed"));
        assertThat(recordOfEvent(masterId)).as("the occurrence carries the master's metadata, and is not the master")
                .containsEntry("title", "Weekly sync");
        assertThat(localRecordByEvent(GRANT, (String) edited.get("id"))).containsEntry("master_record_id", masterRecord);
    }

    @Test
    void anEditedOccurrenceMicrosoftNotifiesOnlyAsItsMasterIsFoundByListingTheSeries() {
        String masterId = createOnCalendar(ProviderQuirks.RecurrenceStyle.MICROSOFT);
        String masterRecord = (String) recordOfEvent(masterId).get("id");

        NYLAS.userEditsOccurrence(GRANT, masterId, FIRST + 2 * WEEK, Map.of("title", "Offsite"));

        await().atMost(Duration.ofSeconds(20)).until(() -> !occurrenceRecords(masterRecord).isEmpty());
        assertThat(occurrenceRecords(masterRecord)).singleElement().satisfies(o -> assertThat(o)
                .containsEntry("title", "Offsite").containsEntry("original_start_time", FIRST + 2 * WEEK));

        // a rule change drops every override on Microsoft: the occurrence record goes with it
        NYLAS.userChangesRule(GRANT, masterId, List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"));

        await().atMost(Duration.ofSeconds(20)).until(() -> occurrenceRecords(masterRecord).isEmpty());
        assertThat(recordOfEvent(masterId)).containsEntry("title", "Weekly sync");
    }

    @Test
    void aTruncatedMastersEditedOccurrencesAreFoundByListingTheSeries() {
        String masterId = createOnCalendar(ProviderQuirks.RecurrenceStyle.GOOGLE);
        String masterRecord = (String) recordOfEvent(masterId).get("id");
        NYLAS.pauseWebhooks(); // the edit's own notification never arrives
        NYLAS.userEditsOccurrence(GRANT, masterId, FIRST + WEEK, Map.of("title", "Moved"));

        deliverAndWait("event.updated.truncated", Map.of("id", masterId, "object", "event", "grant_id", GRANT,
                "calendar_id", "primary"));

        assertThat(occurrenceRecords(masterRecord)).singleElement().satisfies(o -> assertThat(o)
                .containsEntry("title", "Moved").containsEntry("original_start_time", FIRST + WEEK));
    }

    @ParameterizedTest
    @EnumSource(ProviderQuirks.RecurrenceStyle.class)
    void theSeriesDeletedOnTheCalendarTakesItsOccurrenceRecordsWithIt(ProviderQuirks.RecurrenceStyle style) {
        String masterId = createOnCalendar(style);
        String masterRecord = (String) recordOfEvent(masterId).get("id");
        NYLAS.quirks.recurrenceStyle = ProviderQuirks.RecurrenceStyle.GOOGLE; // an edit that names its occurrence
        NYLAS.userEditsOccurrence(GRANT, masterId, FIRST + WEEK, Map.of("title", "Special"));
        await().atMost(Duration.ofSeconds(20)).until(() -> !occurrenceRecords(masterRecord).isEmpty());
        NYLAS.quirks.recurrenceStyle = style;

        NYLAS.userDeletes(GRANT, masterId);

        await().atMost(Duration.ofSeconds(20)).until(() -> count("SELECT count(*) FROM app_event") == 0);
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE sync_state <> 'deleted'")).isZero();
    }

    @ParameterizedTest
    @EnumSource(ProviderQuirks.RecurrenceStyle.class)
    void aMastersNotificationProcessedAfterItsSeriesWasDeletedIsFinishedAndTheDeleteFollows(
            ProviderQuirks.RecurrenceStyle style) {
        NYLAS.quirks.recurrenceStyle = style;
        NYLAS.pauseWebhooks(); // made and deleted before either notification arrives
        String masterId = (String) NYLAS.userCreates(GRANT, "primary", series("Weekly sync", WEEKLY)).get("id");
        NYLAS.userDeletes(GRANT, masterId);

        // as made: the master's event.created names no occurrences, so its series is listed, and it is gone
        NYLAS.releaseWebhooks(false);

        await().atMost(Duration.ofSeconds(20)).until(() -> NYLAS.webhooksQuiet()
                && count("SELECT count(*) FROM webhook_inbox") == 2);
        awaitQuiet();
        assertThat(jdbc.queryForList("SELECT status FROM webhook_inbox", String.class)).containsOnly("processed");
        assertThat(count("SELECT count(*) FROM app_event")).as("the deleted series' record").isZero();
        assertThat(count("SELECT count(*) FROM event_sync_map WHERE sync_state <> 'deleted'")).isZero();
    }

    private JsonNode reconcile() throws Exception {
        HttpResponse<String> started = send(java.net.http.HttpRequest.newBuilder(url("/admin/reconcile"))
                .header("Authorization", "Bearer " + ADMIN_TOKEN).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(json.writeValueAsString(
                        Map.of("grant_id", GRANT, "calendar_id", "primary")))).build());
        assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
        String runId = json.readTree(started.body()).path("run_id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> java.util.Set.of("succeeded", "failed").contains(
                json.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body()).path("status").asText()));
        return json.readTree(apiGet("/admin/reconcile/" + runId, ADMIN_TOKEN).body());
    }

    @Test
    void reconciliationRepairsASeriesAsASeries() throws Exception {
        NYLAS.pauseWebhooks(); // never delivered
        String masterId = (String) NYLAS.userCreates(GRANT, "primary", series("Weekly sync", WEEKLY)).get("id");
        NYLAS.userEditsOccurrence(GRANT, masterId, FIRST + WEEK, Map.of("title", "Special"));

        JsonNode first = reconcile();

        assertThat(first.path("status").asText()).as(first.toString()).isEqualTo("succeeded");
        Map<String, Object> master = localRecordByEvent(GRANT, masterId);
        assertThat(master).as("the master, with its rule").isNotNull().containsEntry("title", "Weekly sync");
        assertThat(recurrence(master.get("recurrence"))).hasSize(1);
        assertThat(occurrenceRecords((String) master.get("id"))).singleElement().satisfies(o -> assertThat(o)
                .containsEntry("title", "Special").containsEntry("original_start_time", FIRST + WEEK));
        assertThat(count("SELECT count(*) FROM app_event")).as("the series is not expanded into records").isEqualTo(2);

        NYLAS.userCancelsOccurrence(GRANT, masterId, FIRST + 2 * WEEK); // its notifications are dropped too
        JsonNode second = reconcile();

        assertThat(second.path("status").asText()).as(second.toString()).isEqualTo("succeeded");
        assertThat(occurrenceRecords((String) master.get("id"))).as("Google's cancelled occurrence, listed as such")
                .filteredOn(o -> o.get("original_start_time").equals(FIRST + 2 * WEEK)).singleElement()
                .satisfies(o -> assertThat(o).containsEntry("status", "cancelled"));

        JsonNode third = reconcile();

        assertThat(third.path("status").asText()).as(third.toString()).isEqualTo("succeeded");
        assertThat(third.path("created").asInt() + third.path("updated").asInt() + third.path("deleted").asInt())
                .as("nothing left to repair: " + third).isZero();
        assertThat(count("SELECT count(*) FROM app_event WHERE status = 'cancelled'"))
                .as("a cancelled occurrence record is never taken for a missing event").isEqualTo(1);
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(3);
    }

    // ---------------------------------------------------------------------------------- application -> calendar

    private Map<String, Object> record(String title, List<String> recurrence) {
        Map<String, Object> body = series(title, recurrence);
        body.put("grant_id", GRANT);
        body.put("calendar_id", "primary");
        return body;
    }

    private String awaitEventOf(String recordId) {
        await().atMost(Duration.ofSeconds(30)).until(() -> "synced".equals(jdbc.queryForObject(
                "SELECT sync_state FROM event_sync_map WHERE internal_id = ?", String.class, recordId)));
        return jdbc.queryForObject("SELECT nylas_event_id FROM event_sync_map WHERE internal_id = ?", String.class,
                recordId);
    }

    @ParameterizedTest
    @EnumSource(ProviderQuirks.RecurrenceStyle.class)
    void aSeriesRecordIsOneSeriesOnTheCalendarAndItsEchoChangesNothing(ProviderQuirks.RecurrenceStyle style) {
        NYLAS.quirks.recurrenceStyle = style;

        HttpResponse<String> created = apiPut("/api/v1/events/rec-series", record("Standup", WEEKLY));

        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String masterId = awaitEventOf("rec-series");
        awaitQuiet();
        Map<String, Object> master = NYLAS.event(GRANT, masterId);
        assertThat(master).containsEntry("title", "Standup").containsEntry("metadata", Map.of("key1", "rec-series"));
        assertThat((List<?>) master.get("recurrence")).hasSize(1);
        assertThat(NYLAS.occurrences(GRANT, masterId, FIRST - 60, FIRST + 10 * WEEK)).hasSize(6);
        assertThat(NYLAS.calls("POST 200")).as("one create: the series").isEqualTo(1);
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(1);
        assertThat(jdbc.queryForList("SELECT outcome FROM webhook_inbox", String.class))
                .allSatisfy(o -> assertThat(o).isIn("unchanged", "app-change-pending"));
    }

    @Test
    void anOccurrenceRecordEditsOrCancelsThatOccurrenceOnTheCalendar() {
        apiPut("/api/v1/events/rec-weekly", record("Weekly", WEEKLY));
        String masterId = awaitEventOf("rec-weekly");
        Map<String, Object> special = record("Weekly (all hands)", null);
        special.remove("recurrence");
        special.put("master_record_id", "rec-weekly");
        special.put("original_start_time", FIRST + WEEK);
        special.put("when", Map.of("start_time", FIRST + WEEK, "end_time", FIRST + WEEK + 3600,
                "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin"));
        Map<String, Object> cancelled = new LinkedHashMap<>(special);
        cancelled.put("original_start_time", FIRST + 3 * WEEK);
        cancelled.put("when", Map.of("start_time", FIRST + 3 * WEEK, "end_time", FIRST + 3 * WEEK + 1800,
                "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin"));
        cancelled.put("status", "cancelled");

        assertThat(apiPut("/api/v1/events/rec-weekly-2", special).statusCode()).isEqualTo(201);
        assertThat(apiPut("/api/v1/events/rec-weekly-4", cancelled).statusCode()).isEqualTo(201);

        String editedId = awaitEventOf("rec-weekly-2");
        awaitEventOf("rec-weekly-4");
        awaitQuiet();
        List<Map<String, Object>> occurrences = NYLAS.occurrences(GRANT, masterId, FIRST - 60, FIRST + 10 * WEEK);
        assertThat(occurrences).hasSize(5).noneMatch(o -> o.get("original_start_time").equals(FIRST + 3 * WEEK));
        assertThat(occurrences).filteredOn(o -> o.get("id").equals(editedId)).singleElement()
                .satisfies(o -> assertThat(o).containsEntry("title", "Weekly (all hands)"));
        assertThat(NYLAS.event(GRANT, masterId)).containsEntry("title", "Weekly");
        assertThat(NYLAS.calls("POST 200")).as("an occurrence is never created as an event").isEqualTo(1);
        assertThat(count("SELECT count(*) FROM app_event")).isEqualTo(3);
        assertThat(count("SELECT count(*) FROM app_event WHERE id = 'rec-weekly-4' AND status = 'cancelled'"))
                .isEqualTo(1);

        Map<String, Object> restored = new LinkedHashMap<>(cancelled);
        restored.put("status", "confirmed");
        HttpResponse<String> refused = apiPut("/api/v1/events/rec-weekly-4", restored);
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(409);
        assertThat(refused.body()).contains("occurrence_cancelled");
        assertThat(count("SELECT count(*) FROM app_event WHERE id = 'rec-weekly-4' AND status = 'cancelled'"))
                .as("a cancelled occurrence stays cancelled").isEqualTo(1);
    }

    @Test
    void seriesFieldsNylasDoesNotTakeAreNamed() throws Exception {
        HttpResponse<String> exrule = apiPut("/api/v1/events/rec-bad", record("Bad",
                List.of("RRULE:FREQ=DAILY", "EXRULE:FREQ=WEEKLY")));
        Map<String, Object> orphan = record("Orphan", null);
        orphan.remove("recurrence");
        orphan.put("master_record_id", "rec-none");
        orphan.put("original_start_time", FIRST);

        assertThat(exrule.statusCode()).isEqualTo(400);
        assertThat(json.readTree(exrule.body()).path("fields").has("recurrence")).as(exrule.body()).isTrue();
        HttpResponse<String> noSeries = apiPut("/api/v1/events/rec-orphan", orphan);
        assertThat(noSeries.statusCode()).as(noSeries.body()).isEqualTo(409);
        JsonNode error = json.readTree(noSeries.body());
        assertThat(error.toString()).contains("unknown_series");
        assertThat(count("SELECT count(*) FROM app_event")).isZero();
    }
}
