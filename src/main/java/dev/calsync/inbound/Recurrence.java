package dev.calsync.inbound;

import java.time.LocalDate;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TimeZone;
import java.util.TreeMap;
import java.util.TreeSet;

import org.dmfs.rfc5545.DateTime;
import org.dmfs.rfc5545.recur.Freq;
import org.dmfs.rfc5545.recur.InvalidRecurrenceRuleException;
import org.dmfs.rfc5545.recur.RecurrenceRule;
import org.dmfs.rfc5545.recur.RecurrenceRuleIterator;

/**
 * A series' {@code recurrence} as Nylas holds it on the master: RFC 5545 {@code RRULE} and {@code EXDATE} strings, in
 * the master's time zone ({@code when.start_timezone}). Checks what the application sends ({@link #problem}) and gives
 * the canonical form the echo guard hashes ({@link #canonical}): two spellings of the same series (the order of the
 * rule's parts, {@code INTERVAL=1}, Microsoft's {@code UNTIL} a day later that adds no occurrence) are the same
 * series; any change of the occurrences is a change. Parsing and expanding rules is lib-recur's.
 */
public final class Recurrence {

    /** The parts of an RRULE Nylas supports (no EXRULE, no RDATE). */
    private static final Set<String> PARTS = Set.of("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY",
            "BYMONTH", "BYSETPOS", "BYYEARDAY", "BYWEEKNO", "WKST");
    private static final Set<Freq> FREQUENCIES = Set.of(Freq.DAILY, Freq.WEEKLY, Freq.MONTHLY, Freq.YEARLY);
    /** Occurrences expanded at most to find the last one of a rule with UNTIL (beyond: the UNTIL text is kept). */
    private static final int MAX_EXPANSION = 5_000;

    private Recurrence() {
    }

    /** What is wrong with a {@code recurrence} value from the application; null when it is valid (or absent). */
    public static String problem(Object recurrence) {
        if (recurrence == null) {
            return null;
        }
        if (!(recurrence instanceof List<?> lines) || lines.isEmpty()) {
            return "must be a non-empty list of RRULE and EXDATE strings";
        }
        int rules = 0;
        for (Object line : lines) {
            if (!(line instanceof String text)) {
                return "must be a list of strings";
            }
            String upper = text.toUpperCase(java.util.Locale.ROOT);
            if (upper.startsWith("RRULE:")) {
                rules++;
                String rule = rule(text.substring("RRULE:".length()));
                if (rule != null) {
                    return rule;
                }
            } else if (upper.startsWith("EXDATE")) {
                if (exdates(text) == null) {
                    return "EXDATE must list dates (YYYYMMDD) or date-times (YYYYMMDDTHHMMSSZ): " + text;
                }
            } else if (upper.startsWith("EXRULE") || upper.startsWith("RDATE")) {
                return "EXRULE and RDATE are not supported (Nylas takes RRULE and EXDATE only)";
            } else {
                return "each entry must start with RRULE: or EXDATE: " + text;
            }
        }
        return rules == 1 ? null : "must hold exactly one RRULE";
    }

    private static String rule(String text) {
        for (String part : text.split(";")) {
            String name = part.contains("=") ? part.substring(0, part.indexOf('=')).toUpperCase(java.util.Locale.ROOT)
                    : part;
            if (!PARTS.contains(name)) {
                return "RRULE part " + name + " is not supported";
            }
        }
        try {
            RecurrenceRule rule = new RecurrenceRule(text, RecurrenceRule.RfcMode.RFC5545_STRICT);
            if (!FREQUENCIES.contains(rule.getFreq())) {
                return "RRULE FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY";
            }
            if (rule.getCount() != null && rule.getUntil() != null) {
                return "RRULE takes COUNT or UNTIL, not both";
            }
            return null;
        } catch (InvalidRecurrenceRuleException | IllegalArgumentException e) {
            return "RRULE is not valid: " + e.getMessage();
        }
    }

    /** The instants (Unix s) or dates an EXDATE line names, or null when it cannot be read. */
    private static List<Object> exdates(String line) {
        int colon = line.indexOf(':');
        if (colon < 0) {
            return null;
        }
        String params = line.substring(0, colon);
        TimeZone zone = DateTime.UTC;
        for (String param : params.split(";")) {
            if (param.toUpperCase(java.util.Locale.ROOT).startsWith("TZID=")) {
                try {
                    zone = TimeZone.getTimeZone(ZoneId.of(param.substring(5)));
                } catch (RuntimeException e) {
                    return null;
                }
            }
        }
        List<Object> out = new ArrayList<>();
        for (String value : line.substring(colon + 1).split(",")) {
            try {
                DateTime date = DateTime.parse(zone, value.trim());
                out.add(date.isAllDay() ? LocalDate.of(date.getYear(), date.getMonth() + 1, date.getDayOfMonth())
                        .toString() : date.getTimestamp() / 1000);
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        return out;
    }

    /**
     * The canonical form of a series' recurrence for the content hash: the rule's parts sorted, without the defaults
     * ({@code INTERVAL=1}, {@code WKST=MO}), {@code UNTIL} replaced by the start of the last occurrence it allows
     * (expanded from the master's start in its time zone), and the excluded dates as sorted instants. Null for no
     * recurrence; a value it cannot read is kept as it is (so any change of it is still a change).
     */
    public static Object canonical(Object recurrence, Object when) {
        if (!(recurrence instanceof List<?> lines) || lines.isEmpty()) {
            return null;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        TreeSet<String> excluded = new TreeSet<>();
        List<String> unreadable = new ArrayList<>();
        for (Object line : lines) {
            String text = String.valueOf(line).strip();
            String upper = text.toUpperCase(java.util.Locale.ROOT);
            if (upper.startsWith("RRULE:")) {
                Object rule = canonicalRule(text.substring("RRULE:".length()), when);
                out.put("rule", rule == null ? text : rule);
            } else if (upper.startsWith("EXDATE")) {
                List<Object> dates = exdates(text);
                if (dates == null) {
                    unreadable.add(text);
                } else {
                    dates.forEach(d -> excluded.add(String.valueOf(d)));
                }
            } else {
                unreadable.add(text);
            }
        }
        out.put("exdates", new ArrayList<>(excluded));
        if (!unreadable.isEmpty()) {
            unreadable.sort(null);
            out.put("other", unreadable);
        }
        return out;
    }

    private static Map<String, String> canonicalRule(String text, Object when) {
        RecurrenceRule rule;
        try {
            rule = new RecurrenceRule(text, RecurrenceRule.RfcMode.RFC5545_LAX);
        } catch (InvalidRecurrenceRuleException | IllegalArgumentException e) {
            return null;
        }
        Map<String, String> parts = new TreeMap<>();
        for (String part : text.split(";")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                parts.put(part.substring(0, eq).strip().toUpperCase(java.util.Locale.ROOT),
                        part.substring(eq + 1).strip().toUpperCase(java.util.Locale.ROOT));
            }
        }
        parts.remove("INTERVAL", "1");
        parts.remove("WKST", "MO");
        if (rule.getUntil() != null) {
            DateTime start = start(when);
            Long last = start == null ? null : lastOccurrence(rule, start);
            if (last != null) {
                parts.remove("UNTIL");
                parts.put("LAST", String.valueOf(last));
            }
        }
        return parts;
    }

    /** The series' first start in its time zone, from the master's {@code when}; null when it has none. */
    private static DateTime start(Object when) {
        if (!(when instanceof Map<?, ?> w)) {
            return null;
        }
        if (w.get("start_time") instanceof Number start) {
            TimeZone zone = DateTime.UTC;
            if (w.get("start_timezone") != null) {
                try {
                    zone = TimeZone.getTimeZone(ZoneId.of(w.get("start_timezone").toString()));
                } catch (RuntimeException e) {
                    // an unknown zone name: expanded in UTC (only the end of the series is computed from it)
                }
            }
            return new DateTime(zone, start.longValue() * 1000);
        }
        Object date = w.get("date") != null ? w.get("date") : w.get("start_date");
        if (date != null) {
            try {
                LocalDate d = LocalDate.parse(date.toString());
                return new DateTime(d.getYear(), d.getMonthValue() - 1, d.getDayOfMonth());
            } catch (DateTimeParseException e) {
                return null;
            }
        }
        return null;
    }

    /** The start (Unix s, or epoch day for all-day series) of the last occurrence of a rule with UNTIL. */
    private static Long lastOccurrence(RecurrenceRule rule, DateTime start) {
        RecurrenceRuleIterator occurrences;
        try {
            occurrences = rule.iterator(start);
        } catch (RuntimeException e) {
            return null;
        }
        Long last = null;
        for (int i = 0; i < MAX_EXPANSION && occurrences.hasNext(); i++) {
            DateTime next = occurrences.nextDateTime();
            last = next.isAllDay() ? LocalDate.of(next.getYear(), next.getMonth() + 1, next.getDayOfMonth())
                    .toEpochDay() : next.getTimestamp() / 1000;
        }
        return occurrences.hasNext() ? null : last;
    }
}
