package dev.calsync.simulator;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What Google and Microsoft do to an event written through the API, switchable one by one: the content means the
 * same, the bytes differ.
 */
public final class ProviderQuirks {

    public volatile boolean reorderParticipants;
    public volatile boolean upperCaseEmailDomains;
    public volatile boolean addParticipantStatus;
    /** Rewrites {@code Europe/Berlin}-style zones to another name for the same offset rules. */
    public volatile boolean respellTimeZones;
    /** Returns a single all-day {@code date} as a {@code datespan} whose end is the day after. */
    public volatile boolean exclusiveAllDayEnd;

    /**
     * How the calendar's provider keeps a recurring series (see docs/SIMULATOR.md, "Recurring series"). Not a
     * rewrite of what was written, so {@link #all()} leaves it as it is.
     */
    public enum RecurrenceStyle {
        /**
         * A cancelled occurrence is an override with {@code status: cancelled}; a rule change keeps the overrides
         * still in the new rule; an edited occurrence is notified as the master listing it in {@code occurrences}.
         */
        GOOGLE,
        /**
         * A cancelled occurrence is an {@code EXDATE} on the master; a rule change drops every override; a changed
         * occurrence is notified as the master alone; {@code UNTIL} is respelled (a day later, same occurrences).
         */
        MICROSOFT
    }

    /** What a Google-style cancelled occurrence sends (Nylas documents neither choice). */
    public enum GoogleCancellation {
        /** {@code event.updated} of the master with {@code cancelled_occurrences: [id]}. */
        UPDATED,
        /** {@code event.deleted} of the occurrence, carrying {@code master_event_id}. */
        DELETED,
        /** Both, the update first (delivery may still reorder them). */
        BOTH
    }

    public volatile RecurrenceStyle recurrenceStyle = RecurrenceStyle.GOOGLE;
    public volatile GoogleCancellation googleCancellation = GoogleCancellation.BOTH;

    private static final Map<String, String> ZONE_ALIASES = Map.of(
            "Europe/Berlin", "Europe/Busingen", "America/New_York", "US/Eastern", "UTC", "Etc/UTC",
            "Europe/London", "GB", "Asia/Kolkata", "Asia/Calcutta");

    public void reset() {
        reorderParticipants = false;
        upperCaseEmailDomains = false;
        addParticipantStatus = false;
        respellTimeZones = false;
        exclusiveAllDayEnd = false;
        recurrenceStyle = RecurrenceStyle.GOOGLE;
        googleCancellation = GoogleCancellation.BOTH;
    }

    public void all() {
        reorderParticipants = true;
        upperCaseEmailDomains = true;
        addParticipantStatus = true;
        respellTimeZones = true;
        exclusiveAllDayEnd = true;
    }

    @SuppressWarnings("unchecked")
    void apply(Map<String, Object> event) {
        if (event.get("participants") instanceof List<?> list) {
            List<Object> participants = new ArrayList<>();
            for (Object item : list) {
                if (item instanceof Map<?, ?> p) {
                    Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) p);
                    Object email = copy.get("email");
                    if (upperCaseEmailDomains && email instanceof String e && e.contains("@")) {
                        copy.put("email", e.substring(0, e.indexOf('@') + 1) + e.substring(e.indexOf('@') + 1)
                                .toUpperCase(java.util.Locale.ROOT));
                    }
                    if (addParticipantStatus) {
                        copy.putIfAbsent("status", "noreply");
                    }
                    participants.add(copy);
                } else {
                    participants.add(item);
                }
            }
            if (reorderParticipants) {
                Collections.reverse(participants);
            }
            event.put("participants", participants);
        }
        if (event.get("when") instanceof Map<?, ?> when) {
            Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) when);
            if (respellTimeZones) {
                for (String key : List.of("start_timezone", "end_timezone", "timezone")) {
                    Object zone = copy.get(key);
                    if (zone != null && ZONE_ALIASES.containsKey(zone.toString())) {
                        copy.put(key, ZONE_ALIASES.get(zone.toString()));
                    }
                }
            }
            if (exclusiveAllDayEnd && copy.get("date") != null) {
                LocalDate day = LocalDate.parse(Objects.toString(copy.remove("date")));
                copy.put("object", "datespan");
                copy.put("start_date", day.toString());
                copy.put("end_date", day.plusDays(1).toString());
            }
            event.put("when", copy);
        }
    }
}
