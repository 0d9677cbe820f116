package dev.calsync.inbound;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.CalsyncProperties.AllDayEnd;
import org.springframework.stereotype.Component;

/**
 * The echo guard's view of an event: a canonical form of the synced fields (title, description, location, when,
 * participants; for a series its recurrence ({@link Recurrence#canonical}), for an occurrence its original start and
 * whether it is cancelled) and its SHA-256. What providers change without a user changing anything does not change the hash:
 * participant order, e-mail case, participant status and comments, the time-zone spelling of the same instants, and
 * how an all-day end date is written. Every other change of a synced field does.
 */
@Component("eventCanonicalizer")
public class EventCanonicalizer {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    private final AllDayEnd allDayEnd;

    @org.springframework.beans.factory.annotation.Autowired
    public EventCanonicalizer(CalsyncProperties properties) {
        this(properties.sync().allDayEnd());
    }

    public EventCanonicalizer(AllDayEnd allDayEnd) {
        this.allDayEnd = allDayEnd;
    }

    /** Lower-case hex SHA-256 of {@link #canonical(Map)} as sorted-key JSON. */
    public String hash(Map<String, Object> event) {
        try {
            byte[] bytes = JSON.writeValueAsString(canonical(event)).getBytes(StandardCharsets.UTF_8);
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (JsonProcessingException | NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public Map<String, Object> canonical(Map<String, Object> event) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("title", text(event.get("title")));
        out.put("description", text(event.get("description")));
        out.put("location", text(event.get("location")));
        out.put("when", when(event.get("when")));
        out.put("participants", participants(event.get("participants")));
        // the series fields only when set: the hash of a single event stays what it always was
        Object recurrence = Recurrence.canonical(event.get("recurrence"), event.get("when"));
        if (recurrence != null) {
            out.put("recurrence", recurrence);
        }
        if ("cancelled".equals(event.get("status"))) {
            out.put("status", "cancelled");
        }
        if (event.get("original_start_time") != null) {
            out.put("original_start_time", seconds(event.get("original_start_time")));
        }
        return out;
    }

    private static String text(Object value) {
        return value == null ? "" : value.toString().replace("\r\n", "\n").strip();
    }

    /** Instants for timed events (zones ignored), [start, end) dates for all-day ones. */
    Object when(Object value) {
        if (!(value instanceof Map<?, ?> when)) {
            return null;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        if (when.get("start_time") != null || when.get("time") != null) {
            Object start = when.get("start_time") != null ? when.get("start_time") : when.get("time");
            Object end = when.get("end_time") != null ? when.get("end_time") : start;
            out.put("start", seconds(start));
            out.put("end", seconds(end));
            return out;
        }
        LocalDate start = date(when.get("date") != null ? when.get("date") : when.get("start_date"));
        if (start == null) {
            return null;
        }
        LocalDate end = when.get("date") != null ? null : date(when.get("end_date"));
        LocalDate exclusiveEnd;
        if (end == null || !end.isAfter(start)) {
            exclusiveEnd = start.plusDays(1);
        } else {
            exclusiveEnd = allDayEnd == AllDayEnd.INCLUSIVE ? end.plusDays(1) : end;
        }
        out.put("start_date", start.toString());
        out.put("end_date", exclusiveEnd.toString());
        return out;
    }

    private static Long seconds(Object value) {
        if (value instanceof Number n) {
            return n.longValue();
        }
        try {
            return value == null ? null : Long.parseLong(value.toString().trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static LocalDate date(Object value) {
        try {
            return value == null ? null : LocalDate.parse(value.toString().trim());
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /** Sorted e-mail addresses in lower case; a participant without one is known by its name. */
    private static List<String> participants(Object value) {
        List<String> out = new ArrayList<>();
        if (value instanceof List<?> list) {
            for (Object item : list) {
                if (item instanceof Map<?, ?> p) {
                    Object email = p.get("email");
                    if (email != null && !email.toString().isBlank()) {
                        out.add(email.toString().strip().toLowerCase(Locale.ROOT));
                    } else if (p.get("name") != null) {
                        out.add("name:" + p.get("name").toString().strip());
                    }
                }
            }
        }
        out.sort(null);
        return out;
    }
}
