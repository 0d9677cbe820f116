package dev.calsync.inbound;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Which occurrences of a listed series differ from their master (and so are records of their own). */
class SeriesOccurrencesTest {

    private static final long START = 1_790_000_000L;

    private static Map<String, Object> master() {
        Map<String, Object> m = new HashMap<>();
        m.put("id", "master-1");
        m.put("title", "Weekly");
        m.put("location", "Room 1");
        m.put("when", Map.of("start_time", START, "end_time", START + 1800));
        m.put("participants", List.of(Map.of("email", "ada@example.com")));
        m.put("recurrence", List.of("RRULE:FREQ=WEEKLY;COUNT=4"));
        return m;
    }

    private static Map<String, Object> occurrence(long originalStart) {
        Map<String, Object> o = new HashMap<>(master());
        o.remove("recurrence");
        o.put("id", "master-1_" + originalStart);
        o.put("master_event_id", "master-1");
        o.put("original_start_time", originalStart);
        o.put("when", Map.of("start_time", originalStart, "end_time", originalStart + 1800));
        o.put("participants", List.of(Map.of("email", "ADA@example.com", "status", "yes")));
        return o;
    }

    @Test
    void anOccurrenceAsTheRuleMakesItIsNoOverride() {
        assertThat(SeriesOccurrences.isOverride(master(), occurrence(START + 604_800))).isFalse();
    }

    @Test
    void anotherTitleTimeDurationOrCancellationIsAnOverride() {
        long week = START + 604_800;
        Map<String, Object> retitled = occurrence(week);
        retitled.put("title", "Weekly (special)");
        Map<String, Object> moved = occurrence(week);
        moved.put("when", Map.of("start_time", week + 3600, "end_time", week + 5400));
        Map<String, Object> longer = occurrence(week);
        longer.put("when", Map.of("start_time", week, "end_time", week + 3600));
        Map<String, Object> cancelled = occurrence(week);
        cancelled.put("status", "cancelled");
        Map<String, Object> invited = occurrence(week);
        invited.put("participants", List.of(Map.of("email", "ada@example.com"), Map.of("email", "bob@example.com")));

        assertThat(List.of(retitled, moved, longer, cancelled, invited))
                .allSatisfy(o -> assertThat(SeriesOccurrences.isOverride(master(), o)).as(o.toString()).isTrue());
    }
}
