package dev.calsync.inbound;

import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties.AllDayEnd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A series' recurrence: what the application may send, and what the echo guard takes for the same series (an
 * equivalent spelling) or a change (other occurrences).
 */
class RecurrenceTest {

    private static final DateTimeFormatter UTC = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
            .withZone(ZoneId.of("UTC"));
    /** Mondays 09:00 Berlin time, from 2026-12-07. */
    private static final long START = ZonedDateTime.of(2026, 12, 7, 9, 0, 0, 0, ZoneId.of("Europe/Berlin"))
            .toEpochSecond();
    private static final Map<String, Object> WHEN = Map.of("start_time", START, "end_time", START + 1800,
            "start_timezone", "Europe/Berlin", "end_timezone", "Europe/Berlin");

    private final EventCanonicalizer canonicalizer = new EventCanonicalizer(AllDayEnd.EXCLUSIVE);

    private String hash(List<String> recurrence) {
        Map<String, Object> master = new HashMap<>();
        master.put("title", "Weekly");
        master.put("when", WHEN);
        master.put("recurrence", recurrence);
        return canonicalizer.hash(master);
    }

    private static String utc(long seconds) {
        return UTC.format(Instant.ofEpochSecond(seconds));
    }

    @Test
    void aRuleWithExcludedDatesIsValid() {
        assertThat(Recurrence.problem(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5",
                "EXDATE:" + utc(START + 7 * 86_400)))).isNull();
        assertThat(Recurrence.problem(List.of("RRULE:FREQ=DAILY;UNTIL=20261231T000000Z"))).isNull();
        assertThat(Recurrence.problem(null)).as("no recurrence: a single event").isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"EXRULE:FREQ=DAILY", "RDATE:20261224T090000Z", "RRULE:FREQ=HOURLY",
            "RRULE:FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z", "RRULE:FREQ=DAILY;BYSECOND=5", "RRULE:NOT=A;RULE",
            "EXDATE:yesterday", "FREQ=DAILY"})
    void whatNylasDoesNotTakeIsNamed(String line) {
        assertThat(Recurrence.problem(List.of("RRULE:FREQ=WEEKLY;COUNT=2", line).subList(
                line.startsWith("RRULE") ? 1 : 0, 2))).isNotNull();
    }

    @Test
    void exactlyOneRuleInAList() {
        assertThat(Recurrence.problem(List.of("RRULE:FREQ=DAILY", "RRULE:FREQ=WEEKLY"))).contains("exactly one");
        assertThat(Recurrence.problem(List.of("EXDATE:20261224T090000Z"))).contains("exactly one");
        assertThat(Recurrence.problem(List.of())).isNotNull();
        assertThat(Recurrence.problem("RRULE:FREQ=DAILY")).as("a string, not a list").isNotNull();
    }

    @Test
    void theSameSeriesSpelledDifferentlyHasTheSameHash() {
        String plain = hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5"));

        assertThat(hash(List.of("RRULE:COUNT=5;BYDAY=MO;FREQ=WEEKLY"))).isEqualTo(plain);
        assertThat(hash(List.of("RRULE:FREQ=WEEKLY;INTERVAL=1;WKST=MO;BYDAY=MO;COUNT=5"))).isEqualTo(plain);
        assertThat(hash(List.of("rrule:freq=weekly;byday=mo;count=5"))).isEqualTo(plain);
    }

    @Test
    void microsoftsUntilADayLaterIsTheSameSeriesWhenItAddsNoOccurrence() {
        long lastMonday = START + 4 * 7 * 86_400;
        String google = hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=" + utc(lastMonday)));
        String microsoft = hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=" + utc(lastMonday + 86_400 - 1)));

        assertThat(microsoft).isEqualTo(google);
        assertThat(hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=" + utc(lastMonday + 7 * 86_400))))
                .as("an UNTIL a week later adds a Monday").isNotEqualTo(google);
    }

    @Test
    void anotherRuleOrAnotherExcludedDateIsAChange() {
        String base = hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5"));

        assertThat(hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=5"))).isNotEqualTo(base);
        assertThat(hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"))).isNotEqualTo(base);
        String excluded = hash(List.of("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5", "EXDATE:" + utc(START + 7 * 86_400)));
        assertThat(excluded).isNotEqualTo(base);
        assertThat(hash(List.of("EXDATE:" + utc(START + 7 * 86_400), "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5")))
                .as("the order of the lines").isEqualTo(excluded);
    }

    @Test
    void aSingleEventsHashIsTheSameWithOrWithoutTheSeriesDefaults() {
        Map<String, Object> single = new HashMap<>();
        single.put("title", "Once");
        single.put("when", WHEN);
        Map<String, Object> withDefaults = new HashMap<>(single);
        withDefaults.put("recurrence", null);
        withDefaults.put("status", "confirmed");

        assertThat(canonicalizer.hash(withDefaults)).isEqualTo(canonicalizer.hash(single));
        assertThat(canonicalizer.canonical(single)).doesNotContainKeys("recurrence", "status", "original_start_time");
        Map<String, Object> cancelled = new HashMap<>(single);
        cancelled.put("status", "cancelled");
        assertThat(canonicalizer.hash(cancelled)).isNotEqualTo(canonicalizer.hash(single));
    }
}
