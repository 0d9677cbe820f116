package dev.calsync.inbound;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties.AllDayEnd;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** What the echo guard treats as the same content, and what as a change. */
class EventCanonicalizerTest {

    private final EventCanonicalizer exclusive = new EventCanonicalizer(AllDayEnd.EXCLUSIVE);

    private static Map<String, Object> event() {
        Map<String, Object> e = new HashMap<>();
        e.put("title", "Planning");
        e.put("description", "Agenda");
        e.put("location", "Room 1");
        e.put("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", "America/New_York", "end_timezone", "America/New_York"));
        e.put("participants", List.of(Map.of("email", "ada@example.com", "name", "Ada"),
                Map.of("email", "bob@example.com")));
        return e;
    }

    private Map<String, Object> with(String field, Object value) {
        Map<String, Object> e = event();
        e.put(field, value);
        return e;
    }

    @Test
    void hashIsLowerCaseHexSha256() {
        assertThat(exclusive.hash(event())).matches("[0-9a-f]{64}");
    }

    @Test
    void providerRewritesDoNotChangeTheHash() {
        String original = exclusive.hash(event());

        assertThat(exclusive.hash(with("participants", List.of(Map.of("email", "bob@example.com"),
                Map.of("email", "ada@example.com", "name", "Ada"))))).as("participant order").isEqualTo(original);
        assertThat(exclusive.hash(with("participants", List.of(Map.of("email", "ADA@Example.COM", "name", "Ada"),
                Map.of("email", "bob@EXAMPLE.com"))))).as("e-mail case").isEqualTo(original);
        assertThat(exclusive.hash(with("participants", List.of(
                Map.of("email", "ada@example.com", "name", "Ada", "status", "yes"),
                Map.of("email", "bob@example.com", "status", "noreply", "comment", "late")))))
                .as("participant status").isEqualTo(original);
        assertThat(exclusive.hash(with("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_003_600L,
                "start_timezone", "US/Eastern", "end_timezone", "US/Eastern")))).as("zone spelling")
                .isEqualTo(original);
        assertThat(exclusive.hash(with("title", "  Planning\n"))).as("surrounding whitespace").isEqualTo(original);
    }

    @Test
    void everyRealChangeChangesTheHash() {
        String original = exclusive.hash(event());

        assertThat(exclusive.hash(with("title", "Planning 2"))).isNotEqualTo(original);
        assertThat(exclusive.hash(with("description", "Other agenda"))).isNotEqualTo(original);
        assertThat(exclusive.hash(with("location", "Room 2"))).isNotEqualTo(original);
        assertThat(exclusive.hash(with("when", Map.of("start_time", 1_790_000_060L, "end_time", 1_790_003_600L))))
                .isNotEqualTo(original);
        assertThat(exclusive.hash(with("when", Map.of("start_time", 1_790_000_000L, "end_time", 1_790_007_200L))))
                .isNotEqualTo(original);
        assertThat(exclusive.hash(with("participants", List.of(Map.of("email", "ada@example.com")))))
                .as("participant removed").isNotEqualTo(original);
        assertThat(exclusive.hash(with("participants", List.of(Map.of("email", "ada@example.com"),
                Map.of("email", "bob@example.com"), Map.of("email", "cy@example.com")))))
                .as("participant added").isNotEqualTo(original);
    }

    @Test
    void allDayDateAndItsExclusiveDatespanAreTheSameWhenProvidersWriteTheDayAfter() {
        String single = exclusive.hash(with("when", Map.of("date", "2026-12-24")));
        String exclusiveSpan = exclusive.hash(with("when", Map.of("start_date", "2026-12-24",
                "end_date", "2026-12-25")));
        String twoDays = exclusive.hash(with("when", Map.of("start_date", "2026-12-24", "end_date", "2026-12-26")));

        assertThat(exclusiveSpan).isEqualTo(single);
        assertThat(twoDays).isNotEqualTo(single);
    }

    @Test
    void allDayDatespanIsReadAsInclusiveWhenConfiguredSo() {
        EventCanonicalizer inclusive = new EventCanonicalizer(AllDayEnd.INCLUSIVE);

        String single = inclusive.hash(with("when", Map.of("date", "2026-12-24")));
        String sameDaySpan = inclusive.hash(with("when", Map.of("start_date", "2026-12-24",
                "end_date", "2026-12-24")));
        String twoDays = inclusive.hash(with("when", Map.of("start_date", "2026-12-24", "end_date", "2026-12-25")));

        assertThat(sameDaySpan).isEqualTo(single);
        assertThat(twoDays).isNotEqualTo(single);
        assertThat(inclusive.canonical(with("when", Map.of("start_date", "2026-12-24", "end_date", "2026-12-25"))))
                .containsEntry("when", Map.of("start_date", "2026-12-24", "end_date", "2026-12-26"));
    }
}
