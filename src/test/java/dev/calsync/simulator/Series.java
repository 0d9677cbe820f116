package dev.calsync.simulator;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TimeZone;

import org.dmfs.rfc5545.DateTime;
import org.dmfs.rfc5545.recur.InvalidRecurrenceRuleException;
import org.dmfs.rfc5545.recur.RecurrenceRule;
import org.dmfs.rfc5545.recur.RecurrenceRuleIterator;

/**
 * A series master's recurrence, read once: its RRULE (parsed and expanded by lib-recur, never by hand), its EXDATEs,
 * its start, time zone and duration. Immutable; the simulator builds one whenever it needs to expand a master.
 *
 * <p>An occurrence's original start is kept in Unix seconds. The series' time zone is the master's
 * {@code when.start_timezone} (UTC without one), so a weekly 09:00 in Europe/Berlin stays 09:00 across DST.
 */
final class Series {

    /** At most this many occurrences are generated per series and call: a rule without end never loops forever. */
    static final int MAX_OCCURRENCES = 2000;
    /** How an original start is written in an occurrence id and in an {@code EXDATE}. */
    static final DateTimeFormatter UTC_FORM = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
            .withZone(ZoneOffset.UTC);
    private static final int ID_SUFFIX = "_yyyyMMddTHHmmssZ".length();

    private final List<String> entries;
    private final int ruleIndex;
    private final RecurrenceRule rule;
    private final Set<Long> exdates;
    private final TimeZone zone;
    final long start;
    final long duration;

    private Series(List<String> entries, int ruleIndex, RecurrenceRule rule, Set<Long> exdates, TimeZone zone,
                   long start, long duration) {
        this.entries = entries;
        this.ruleIndex = ruleIndex;
        this.rule = rule;
        this.exdates = exdates;
        this.zone = zone;
        this.start = start;
        this.duration = duration;
    }

    /** A series master: {@code recurrence} is a non-empty array (only masters carry one). */
    static boolean isMaster(Map<String, Object> event) {
        return event.get("recurrence") instanceof List<?> list && !list.isEmpty();
    }

    /** What is wrong with an event's recurrence (the text of a {@code 400}), or null when fine or not a series. */
    static String problem(Map<String, Object> event) {
        Object recurrence = event.get("recurrence");
        if (recurrence != null && !(recurrence instanceof List<?>)) {
            return "recurrence must be an array of strings";
        }
        if (!isMaster(event)) {
            return null;
        }
        try {
            Series series = of(event);
            // lib-recur refuses some rules only when expanding them (a date UNTIL is handled in rule())
            series.rule.iterator(new DateTime(series.zone, series.start * 1000));
            return null;
        } catch (IllegalArgumentException e) {
            String reason = String.valueOf(e.getMessage());
            return reason.startsWith("too many filtered") ? "the RRULE has no occurrences" : reason;
        }
    }

    /** Reads a master; {@link IllegalArgumentException} with the reason when the series is not valid. */
    static Series of(Map<String, Object> master) {
        List<String> entries = new ArrayList<>();
        for (Object entry : (List<?>) master.get("recurrence")) {
            if (!(entry instanceof String s)) {
                throw new IllegalArgumentException("recurrence must be an array of strings");
            }
            entries.add(s);
        }
        if (!(master.get("when") instanceof Map<?, ?> when) || !(when.get("start_time") instanceof Number from)
                || !(when.get("end_time") instanceof Number to)) {
            throw new IllegalArgumentException("a recurring event needs a timespan when (start_time and end_time)");
        }
        TimeZone zone = zone(when.get("start_timezone"));
        int ruleIndex = -1;
        Set<Long> exdates = new HashSet<>();
        for (int i = 0; i < entries.size(); i++) {
            String entry = entries.get(i);
            String name = entry.split("[:;]", 2)[0].toUpperCase(java.util.Locale.ROOT);
            switch (name) {
                case "RRULE" -> {
                    if (ruleIndex >= 0) {
                        throw new IllegalArgumentException("recurrence has more than one RRULE");
                    }
                    if (!entry.startsWith("RRULE:")) {
                        throw new IllegalArgumentException("RRULE takes no parameters: " + entry);
                    }
                    ruleIndex = i;
                }
                case "EXDATE" -> exdates.addAll(exdates(entry, zone));
                case "EXRULE", "RDATE" -> throw new IllegalArgumentException(name + " is not supported: " + entry);
                default -> throw new IllegalArgumentException("recurrence entries are RRULE or EXDATE: " + entry);
            }
        }
        if (ruleIndex < 0) {
            throw new IllegalArgumentException("recurrence needs an RRULE");
        }
        long start = from.longValue();
        return new Series(List.copyOf(entries), ruleIndex, rule(entries.get(ruleIndex), zone), Set.copyOf(exdates),
                zone, start, Math.max(0, to.longValue() - start));
    }

    private static TimeZone zone(Object name) {
        if (name == null) {
            return DateTime.UTC;
        }
        try {
            return TimeZone.getTimeZone(ZoneId.of(name.toString()));
        } catch (DateTimeException e) {
            throw new IllegalArgumentException("unknown time zone " + name);
        }
    }

    private static RecurrenceRule rule(String entry, TimeZone zone) {
        try {
            RecurrenceRule rule = new RecurrenceRule(entry.substring("RRULE:".length()),
                    RecurrenceRule.RfcMode.RFC5545_STRICT);
            if (rule.getUntil() != null && rule.getUntil().isAllDay()) {
                // UNTIL=20260312 on a timed series: that whole day, in the series' zone (as Google reads it);
                // lib-recur refuses a date UNTIL with a date-time start
                DateTime day = rule.getUntil();
                long endOfDay = LocalDate.of(day.getYear(), day.getMonth() + 1, day.getDayOfMonth())
                        .atTime(23, 59, 59).atZone(zone.toZoneId()).toInstant().toEpochMilli();
                rule.setUntil(new DateTime(DateTime.UTC, endOfDay));
            }
            return rule;
        } catch (InvalidRecurrenceRuleException e) {
            throw new IllegalArgumentException("invalid RRULE: " + e.getMessage());
        }
    }

    /** {@code EXDATE:20260105T090000Z[,…]}, or {@code EXDATE;TZID=Europe/Berlin:20260105T100000[,…]}. */
    private static List<Long> exdates(String entry, TimeZone seriesZone) {
        int colon = entry.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("EXDATE without a value: " + entry);
        }
        TimeZone zone = seriesZone;
        for (String parameter : entry.substring("EXDATE".length(), colon).split(";")) {
            String upper = parameter.toUpperCase(java.util.Locale.ROOT);
            if (upper.startsWith("TZID=")) {
                zone = zone(parameter.substring("TZID=".length()));
            } else if (!parameter.isEmpty() && !upper.equals("VALUE=DATE-TIME")) {
                throw new IllegalArgumentException("EXDATE parameter not supported: " + parameter);
            }
        }
        List<Long> out = new ArrayList<>();
        for (String value : entry.substring(colon + 1).split(",")) {
            DateTime time;
            try {
                time = DateTime.parse(zone, value.trim());
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("invalid EXDATE value: " + value);
            }
            if (time.isAllDay()) {
                throw new IllegalArgumentException("EXDATE of a timed series must be a date-time: " + value);
            }
            out.add(Math.floorDiv(time.getTimestamp(), 1000));
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ expansion

    /**
     * The rule's instances from {@code notBefore} (Unix s) on, or null when there are none; EXDATEs are the
     * callers' business. lib-recur throws when a rule matches nothing for too long (e.g. 30 February): for a stored
     * series, found valid when written, that is the end of the series.
     */
    private RecurrenceRuleIterator iterator(long notBefore) {
        try {
            RecurrenceRuleIterator it = rule.iterator(new DateTime(zone, start * 1000));
            if (notBefore > start) {
                it.fastForward(notBefore * 1000);
            }
            return it;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The next instance of {@code it} in Unix s, or null at the end (see {@link #iterator}). */
    private static Long next(RecurrenceRuleIterator it) {
        try {
            return it != null && it.hasNext() ? Math.floorDiv(it.nextMillis(), 1000) : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The first {@code n} starts of the rule (EXDATEs not applied): what "the same rule" is compared by. */
    List<Long> firstStarts(int n) {
        List<Long> out = new ArrayList<>();
        RecurrenceRuleIterator it = iterator(start);
        for (Long s = next(it); s != null && out.size() < n; s = next(it)) {
            out.add(s);
        }
        return out;
    }

    /** Original starts of the occurrences (EXDATEs removed) overlapping [from, to), at most the cap. */
    List<Long> startsOverlapping(long from, long to) {
        List<Long> out = new ArrayList<>();
        RecurrenceRuleIterator it = iterator(from - duration);
        int generated = 0;
        for (Long s = next(it); s != null && s < to && generated < MAX_OCCURRENCES; s = next(it), generated++) {
            if (s + duration >= from && !exdates.contains(s)) { // the overlap rule of single events
                out.add(s);
            }
        }
        return out;
    }

    /** Whether the series' span (first start to the end of its last occurrence) overlaps [from, to). */
    boolean spanOverlaps(long from, long to) {
        return start < to && next(iterator(from - duration)) != null;
    }

    /** Whether the rule makes an occurrence start at {@code originalStart}, EXDATE'd or not. */
    boolean ruleOccursAt(long originalStart) {
        Long s = next(iterator(originalStart));
        return s != null && s == originalStart;
    }

    /** Whether the series has an occurrence originally starting at {@code originalStart} (not EXDATE'd). */
    boolean occursAt(long originalStart) {
        return !exdates.contains(originalStart) && ruleOccursAt(originalStart);
    }

    /** Whether both series start their occurrences at the same instants (EXDATEs aside; UNTIL text aside). */
    boolean sameRuleAs(Series other) {
        return firstStarts(MAX_OCCURRENCES).equals(other.firstStarts(MAX_OCCURRENCES));
    }

    // --------------------------------------------------------------------------------------------- the entries

    /** The recurrence plus an {@code EXDATE} (UTC form) for the occurrence originally at {@code originalStart}. */
    List<String> withExdate(long originalStart) {
        List<String> out = new ArrayList<>(entries);
        out.add("EXDATE:" + UTC_FORM.format(Instant.ofEpochSecond(originalStart)));
        return out;
    }

    /**
     * The recurrence as Microsoft stores it: {@code UNTIL} respelled as the last occurrence's start plus one day
     * minus one second, in UTC ({@code yyyyMMdd'T'HHmmss'Z'}). The occurrences stay the same; if the new text would
     * change them (a rule finer than daily), or the series has no end within the cap, the text is kept.
     */
    List<String> respelledUntil() {
        if (rule.getUntil() == null) {
            return entries;
        }
        List<Long> starts = firstStarts(MAX_OCCURRENCES + 1);
        if (starts.isEmpty() || starts.size() > MAX_OCCURRENCES) {
            return entries;
        }
        long until = starts.get(starts.size() - 1) + 24 * 3600 - 1;
        RecurrenceRule respelled = rule(entries.get(ruleIndex), zone);
        respelled.setUntil(new DateTime(DateTime.UTC, until * 1000));
        List<String> out = new ArrayList<>(entries);
        out.set(ruleIndex, "RRULE:" + respelled);
        Series check = new Series(out, ruleIndex, respelled, exdates, zone, start, duration);
        return check.firstStarts(MAX_OCCURRENCES + 1).equals(starts) ? out : entries;
    }

    // ------------------------------------------------------------------------------------------- occurrences

    /**
     * The unedited occurrence originally at {@code originalStart}: the master's fields (its metadata too, as Nylas
     * may send it), its own id, time and series links, no recurrence. Nested values are shared with the master:
     * callers copy before handing it out.
     */
    Map<String, Object> occurrence(Map<String, Object> master, long originalStart) {
        Map<String, Object> o = new LinkedHashMap<>(master);
        String masterId = (String) master.get("id");
        o.put("id", occurrenceId(masterId, originalStart));
        o.remove("recurrence");
        o.put("status", "confirmed");
        o.put("master_event_id", masterId);
        o.put("original_start_time", originalStart);
        @SuppressWarnings("unchecked")
        Map<String, Object> when = new LinkedHashMap<>((Map<String, Object>) master.get("when"));
        when.put("start_time", originalStart);
        when.put("end_time", originalStart + duration);
        o.put("when", when);
        return o;
    }

    /** {@code <masterId>_<original start in UTC, yyyyMMdd'T'HHmmss'Z'>}. */
    static String occurrenceId(String masterId, long originalStart) {
        return masterId + "_" + UTC_FORM.format(Instant.ofEpochSecond(originalStart));
    }

    /** The master id an occurrence id names, or null when the id is not an occurrence's. */
    static String masterIdOf(String id) {
        return originalStartOf(id) == null ? null : id.substring(0, id.length() - ID_SUFFIX);
    }

    /** The original start (Unix s) an occurrence id names, or null when the id is not an occurrence's. */
    static Long originalStartOf(String id) {
        if (id.length() <= ID_SUFFIX || id.charAt(id.length() - ID_SUFFIX) != '_') {
            return null;
        }
        try {
            return LocalDateTime.parse(id.substring(id.length() - ID_SUFFIX + 1),
                    DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")).toEpochSecond(ZoneOffset.UTC);
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
