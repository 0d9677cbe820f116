package dev.calsync.outbound;

import java.time.LocalDate;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks the body of {@code PUT /api/v1/events/{id}} and names every bad field, so a caller fixes all of them at
 * once. The accepted shape is the Nylas event subset the sync writes.
 */
public final class EventValidator {

    static final Set<String> FIELDS = Set.of("grant_id", "calendar_id", "title", "description", "location", "when",
            "participants", "recurrence", "status", "master_record_id", "original_start_time");
    private static final Pattern EMAIL = Pattern.compile("[^@\\s]+@[^@\\s]+");

    private EventValidator() {
    }

    /** Field name -> what is wrong with it; empty when the body is valid. */
    public static Map<String, String> problems(Map<String, Object> body) {
        Map<String, String> problems = new LinkedHashMap<>();
        for (String key : body.keySet()) {
            if (!FIELDS.contains(key) && !"id".equals(key)) {
                problems.put(key, "is not a field of an event");
            }
        }
        requiredText(body, "grant_id", problems);
        requiredText(body, "calendar_id", problems);
        optionalText(body, "title", 1024, problems);
        optionalText(body, "description", 8192, problems);
        optionalText(body, "location", 1024, problems);
        String when = when(body.get("when"));
        if (when != null) {
            problems.put("when", when);
        }
        for (Map.Entry<String, Object> field : body.entrySet()) {
            if (!problems.containsKey(field.getKey()) && !storable(field.getValue())) {
                problems.put(field.getKey(), "holds a NUL character or an unpaired surrogate, which cannot be stored");
            }
        }
        series(body, problems);
        Object participants = body.get("participants");
        if (participants != null) {
            if (!(participants instanceof List<?> list)) {
                problems.put("participants", "must be a list of {email, name}");
            } else {
                for (int i = 0; i < list.size(); i++) {
                    if (!(list.get(i) instanceof Map<?, ?> p) || !(p.get("email") instanceof String e)
                            || !EMAIL.matcher(e).matches()) {
                        problems.put("participants[" + i + "].email", "must be an e-mail address");
                    } else if (p.get("name") != null && !(p.get("name") instanceof String)) {
                        problems.put("participants[" + i + "].name", "must be a string");
                    }
                }
            }
        }
        return problems;
    }

    /**
     * A series master carries {@code recurrence}; an occurrence that differs from its series carries {@code
     * master_record_id} and {@code original_start_time} (and may be {@code cancelled}); never both.
     */
    private static void series(Map<String, Object> body, Map<String, String> problems) {
        String recurrence = dev.calsync.inbound.Recurrence.problem(body.get("recurrence"));
        if (recurrence != null) {
            problems.put("recurrence", recurrence);
        }
        Object status = body.get("status");
        if (status != null && !"confirmed".equals(status) && !"cancelled".equals(status)) {
            problems.put("status", "must be confirmed or cancelled");
        }
        Object master = body.get("master_record_id");
        Object original = body.get("original_start_time");
        if (master != null && (!(master instanceof String m) || m.isBlank())) {
            problems.put("master_record_id", "must be a record id");
        }
        if (original != null && !(original instanceof Number)) {
            problems.put("original_start_time", "must be Unix seconds");
        }
        if ((master == null) != (original == null)) {
            problems.put(master == null ? "master_record_id" : "original_start_time",
                    "an occurrence names both master_record_id and original_start_time");
        }
        if (master != null && body.get("recurrence") != null) {
            problems.put("recurrence", "an occurrence has no recurrence of its own");
        }
        if ("cancelled".equals(status) && master == null) {
            problems.put("status", "only an occurrence can be cancelled (delete the record to delete an event)");
        }
        if (master != null && master.equals(body.get("id"))) {
            problems.put("master_record_id", "is this record itself");
        }
    }

    private static boolean storable(Object value) {
        return java.util.Objects.equals(value, dev.calsync.inbound.StorableText.cleanValue(value));
    }

    private static String when(Object value) {
        if (!(value instanceof Map<?, ?> when)) {
            return "is required: {start_time, end_time} in Unix seconds, {date} or {start_date, end_date}";
        }
        if (when.containsKey("start_time") || when.containsKey("end_time")) {
            if (!(when.get("start_time") instanceof Number start) || !(when.get("end_time") instanceof Number end)) {
                return "start_time and end_time must both be Unix seconds";
            }
            if (end.longValue() < start.longValue()) {
                return "end_time is before start_time";
            }
            boolean startZone = when.get("start_timezone") != null;
            if (startZone != (when.get("end_timezone") != null)) {
                return "give both start_timezone and end_timezone, or neither";
            }
            for (String zone : List.of("start_timezone", "end_timezone")) {
                if (when.get(zone) != null && !validZone(when.get(zone).toString())) {
                    return zone + " is not an IANA time zone";
                }
            }
            return null;
        }
        if (when.containsKey("date")) {
            return date(when.get("date")) == null ? "date must be YYYY-MM-DD" : null;
        }
        LocalDate start = date(when.get("start_date"));
        LocalDate end = date(when.get("end_date"));
        if (start == null || end == null) {
            return "is required: {start_time, end_time} in Unix seconds, {date} or {start_date, end_date}";
        }
        return end.isBefore(start) ? "end_date is before start_date" : null;
    }

    private static boolean validZone(String zone) {
        try {
            ZoneId.of(zone);
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    private static LocalDate date(Object value) {
        try {
            return value == null ? null : LocalDate.parse(value.toString());
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private static void requiredText(Map<String, Object> body, String field, Map<String, String> problems) {
        if (!(body.get(field) instanceof String s) || s.isBlank()) {
            problems.put(field, "is required");
        }
    }

    private static void optionalText(Map<String, Object> body, String field, int max, Map<String, String> problems) {
        Object value = body.get(field);
        if (value != null && !(value instanceof String)) {
            problems.put(field, "must be a string");
        } else if (value instanceof String s && s.length() > max) {
            problems.put(field, "is longer than " + max + " characters");
        }
    }
}
