package dev.calsync.inbound;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import dev.calsync.mapping.SyncMappings;
import dev.calsync.nylas.NylasRequests;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.MASTER_EVENT_ID;
import static dev.calsync.CalsyncVariables.ORIGINAL_START_TIME;

/**
 * Calendar to application for the occurrences of a series (routes in {@code recurring-events.camel.yaml}). Nylas
 * notifies about a series' master only: an edited occurrence arrives as the master's {@code event.updated} listing its
 * id in {@code occurrences} (Google), a cancelled one in {@code cancelled_occurrences} or as an {@code event.deleted}
 * naming its {@code master_event_id}. An occurrence that differs from its series becomes a record of its own, linked
 * to the master's record ({@code master_record_id}, {@code original_start_time}); a cancelled one is such a record with
 * {@code status: cancelled}, never a live one.
 * <p>
 * Occurrences are matched by {@code master_event_id} before {@code metadata.key1}: an occurrence may carry its
 * master's metadata, and must never be taken for the master's record. Its record is the one already linked to its
 * event id, else the record of that occurrence of that master ({@code original_start_time}), else a new one whose id
 * is derived from the master's record and the original start (so two paths that discover one occurrence agree).
 */
@Component("seriesOccurrences")
public class SeriesOccurrences {

    /** Variable: the occurrence ids a master's notification names ({@code occurrences}, {@code cancelled_occurrences}). */
    public static final String CHANGES = "seriesChanges";

    private final JdbcTemplate jdbc;
    private final NylasRequests nylas;
    private final SyncMappings mappings;
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SeriesOccurrences.class);

    public SeriesOccurrences(JdbcTemplate jdbc, NylasRequests nylas, SyncMappings mappings) {
        this.jdbc = jdbc;
        this.nylas = nylas;
        this.mappings = mappings;
    }

    /**
     * The ids a master's {@code event.created/updated} names, kept before the master is applied; for a series
     * master the event itself too (variable {@code seriesMaster}), to tell its edited occurrences from the others.
     */
    public void noteChanges(Exchange exchange) {
        Map<?, ?> event = exchange.getMessage().getBody(Map.class);
        Map<String, List<String>> changes = new LinkedHashMap<>();
        changes.put("edited", ids(event.get("occurrences")));
        changes.put("cancelled", ids(event.get("cancelled_occurrences")));
        exchange.setVariable(CHANGES, changes);
        boolean series = event.get("recurrence") instanceof List<?> rule && !rule.isEmpty();
        exchange.setVariable("seriesMaster", series ? new LinkedHashMap<>(event) : null);
        // a provider that lists the changed occurrences (Google) said what changed; one that does not (Microsoft
        // notifies the master only) leaves the series to be listed
        exchange.setVariable("seriesListed", event.containsKey("occurrences")
                || event.containsKey("cancelled_occurrences"));
    }

    /**
     * After a truncated notification was applied from the event fetched again (variable {@code fetched}): a series'
     * master lost its occurrence lists with the notification, so its series is to be listed ({@link #needsListing}).
     */
    public void noteFetched(Exchange exchange) {
        Map<?, ?> fetched = exchange.getVariable("fetched", Map.class);
        boolean series = fetched != null && fetched.get("recurrence") instanceof List<?> rule && !rule.isEmpty();
        exchange.setVariable("seriesMaster", series ? new LinkedHashMap<>(fetched) : null);
        exchange.setVariable("seriesListed", false);
    }

    /** A series master whose notification named no occurrences: its series is listed to find the edited ones. */
    public boolean needsListing(Exchange exchange) {
        return exchange.getVariable("seriesMaster") != null
                && !Boolean.TRUE.equals(exchange.getVariable("seriesListed", Boolean.class));
    }

    /**
     * Starts listing the whole series of the master as Nylas holds it now (variable {@code fetched}: what a
     * notification carried may be older than the series listed), or false when it is gone: headers, the first page,
     * no overrides yet.
     */
    public boolean startListing(Exchange exchange) {
        Map<?, ?> fetched = exchange.getVariable("fetched", Map.class);
        if (fetched == null) {
            return false;
        }
        exchange.setVariable("seriesMaster", new LinkedHashMap<>(fetched));
        Map<?, ?> master = fetched;
        Message m = exchange.getMessage();
        m.setHeader(GRANT_ID, master.get("grant_id"));
        m.setHeader(CALENDAR_ID, master.get("calendar_id"));
        exchange.setVariable(MASTER_EVENT_ID, master.get("id"));
        exchange.setVariable("seriesPage", "");
        exchange.setVariable("overrides", new ArrayList<Map<String, Object>>());
        exchange.setVariable("liveStarts", new ArrayList<Long>());
        exchange.setVariable("seriesListedAt", new java.sql.Timestamp(System.currentTimeMillis()));
        return true;
    }

    /** The master to fetch before its series is listed: a stub {id, grant_id, calendar_id} of the noted master. */
    public Map<String, Object> masterStub(Exchange exchange) {
        Map<?, ?> master = exchange.getVariable("seriesMaster", Map.class);
        Map<String, Object> stub = new LinkedHashMap<>();
        stub.put("id", master.get("id"));
        stub.put("grant_id", master.get("grant_id"));
        stub.put("calendar_id", master.get("calendar_id"));
        return stub;
    }

    /**
     * Reads one page of the series' listing and keeps its occurrences that differ from the master (edited, or
     * cancelled); {@code seriesPage} becomes the next page's cursor, or null after the last page.
     */
    @SuppressWarnings("unchecked")
    public void collectOverrides(Exchange exchange) throws java.io.IOException {
        Map<String, Object> master = exchange.getVariable("seriesMaster", Map.class);
        List<Map<String, Object>> overrides = exchange.getVariable("overrides", List.class);
        List<Long> live = exchange.getVariable("liveStarts", List.class);
        for (Map<String, Object> event : seriesPage(exchange)) {
            if (!"cancelled".equals(event.get("status")) && event.get("original_start_time") instanceof Number n) {
                live.add(n.longValue());
            }
            if (isOverride(master, event)) {
                Map<String, Object> occurrence = new LinkedHashMap<>(event);
                occurrence.putIfAbsent("master_event_id", master.get("id"));
                overrides.add(occurrence);
            }
        }
    }

    /** The occurrences of one page of a series' listing; {@code seriesPage} becomes the next page's cursor or null. */
    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> seriesPage(Exchange exchange) throws java.io.IOException {
        Map<String, Object> page = nylas.page(exchange);
        Object next = page.get("next_cursor");
        exchange.setVariable("seriesPage", next instanceof String s && !s.isBlank() ? s : null);
        List<Map<String, Object>> events = new ArrayList<>();
        if (page.get("data") instanceof List<?> data) {
            data.stream().filter(Map.class::isInstance).forEach(e -> events.add((Map<String, Object>) e));
        }
        return events;
    }

    /** Whether an occurrence differs from what its master's rule makes of it (content, time or cancellation). */
    static boolean isOverride(Map<String, Object> master, Map<String, Object> occurrence) {
        if ("cancelled".equals(occurrence.get("status"))) {
            return true;
        }
        for (String field : List.of("title", "description", "location")) {
            if (!text(master.get(field)).equals(text(occurrence.get(field)))) {
                return true;
            }
        }
        if (!emails(master.get("participants")).equals(emails(occurrence.get("participants")))) {
            return true;
        }
        long[] masterSpan = span(master.get("when"));
        long[] span = span(occurrence.get("when"));
        Object original = occurrence.get("original_start_time");
        if (masterSpan == null || span == null || !(original instanceof Number start)) {
            return false;
        }
        return span[0] != start.longValue() || span[1] - span[0] != masterSpan[1] - masterSpan[0];
    }

    private static String text(Object value) {
        return value == null ? "" : value.toString().strip();
    }

    private static java.util.Set<String> emails(Object participants) {
        java.util.Set<String> out = new java.util.TreeSet<>();
        if (participants instanceof List<?> list) {
            for (Object p : list) {
                if (p instanceof Map<?, ?> person && person.get("email") != null) {
                    out.add(person.get("email").toString().strip().toLowerCase(java.util.Locale.ROOT));
                }
            }
        }
        return out;
    }

    private static long[] span(Object when) {
        if (when instanceof Map<?, ?> w && w.get("start_time") instanceof Number start
                && w.get("end_time") instanceof Number end) {
            return new long[] {start.longValue(), end.longValue()};
        }
        return null;
    }

    /** The overrides found by {@link #collectOverrides}. */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> overrides(Exchange exchange) {
        return exchange.getVariable("overrides", List.class);
    }

    /**
     * The occurrence records of the listed master that the calendar no longer stands for: live ones no override
     * stands for any more (a rule change that dropped the provider's overrides, an edit taken back), and cancelled
     * ones whose occurrence is listed live again (Microsoft drops a series' excluded dates with a rule change).
     * Their records go: the occurrence is what the master's rule makes of it.
     */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> staleOccurrenceRecords(Exchange exchange) {
        Map<?, ?> master = exchange.getVariable("seriesMaster", Map.class);
        List<Long> kept = overrides(exchange).stream().map(o -> o.get("original_start_time"))
                .filter(Number.class::isInstance).map(n -> ((Number) n).longValue()).toList();
        List<Long> live = exchange.getVariable("liveStarts", List.class);
        long[] window = nylas.seriesWindow();
        // only occurrences the listing could show (its window), synced before it began (a push that finished
        // meanwhile is not in it), and no application change on its way
        return jdbc.queryForList("""
                SELECT e.id, e.grant_id, e.calendar_id, m.nylas_event_id
                  FROM event_sync_map master JOIN app_event e ON e.master_record_id = master.internal_id
                  LEFT JOIN event_sync_map m ON m.internal_id = e.id
                 WHERE master.grant_id = ? AND master.nylas_event_id = ?
                   AND (e.status = 'confirmed' AND NOT (e.original_start_time = ANY(?))
                        OR e.status = 'cancelled' AND e.original_start_time = ANY(?))
                   AND e.original_start_time BETWEEN ? AND ? AND e.updated_at < ?
                   AND (m.internal_id IS NULL OR NOT (m.source = 'app' AND m.sync_state IN ('pending', 'failed')))""",
                master.get("grant_id"), master.get("id"), kept.toArray(Long[]::new), live.toArray(Long[]::new),
                window[0], window[1], exchange.getVariable("seriesListedAt", java.sql.Timestamp.class));
    }

    /** Whether the notification named occurrences (edited or cancelled) of its series. */
    public boolean anyChanges(Exchange exchange) {
        Map<?, ?> changes = exchange.getVariable(CHANGES, Map.class);
        return changes != null && changes.values().stream().anyMatch(l -> !((List<?>) l).isEmpty());
    }

    /** The occurrence ids of one kind ({@code edited}, {@code cancelled}) as stubs {id, grant_id, calendar_id}. */
    public List<Map<String, Object>> stubs(Exchange exchange, String kind) {
        Map<?, ?> changes = exchange.getVariable(CHANGES, Map.class);
        Message m = exchange.getMessage();
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object id : (List<?>) changes.get(kind)) {
            Map<String, Object> stub = new LinkedHashMap<>();
            stub.put("id", id);
            stub.put("grant_id", m.getHeader(GRANT_ID));
            stub.put("calendar_id", m.getHeader(CALENDAR_ID));
            stub.put("master_event_id", m.getHeader(EVENT_ID));
            out.add(stub);
        }
        return out;
    }

    public List<Map<String, Object>> edited(Exchange exchange) {
        return stubs(exchange, "edited");
    }

    public List<Map<String, Object>> cancelled(Exchange exchange) {
        return stubs(exchange, "cancelled");
    }

    /**
     * Headers naming the occurrence in the body (a stub or an event): grant, calendar and its id; its master's in the
     * variable {@code CalsyncMasterEventId}.
     */
    public void occurrenceHeaders(Exchange exchange) {
        Map<?, ?> event = exchange.getMessage().getBody(Map.class);
        Message m = exchange.getMessage();
        m.setHeader(GRANT_ID, event.get("grant_id"));
        m.setHeader(CALENDAR_ID, event.get("calendar_id"));
        m.setHeader(EVENT_ID, event.get("id"));
        exchange.setVariable(MASTER_EVENT_ID, event.get("master_event_id"));
    }

    /**
     * Makes the occurrence in the body ready for {@code calsync-inbound-event-upsert}: {@code master_record_id} set to
     * the master's record and {@code metadata.key1} to the occurrence's own record, so it is matched and written as
     * that record. Fails (and the notification is retried) while the master is not synced yet.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> asOccurrence(Exchange exchange) {
        Map<String, Object> event = new LinkedHashMap<>(exchange.getMessage().getBody(Map.class));
        String grantId = (String) event.get("grant_id");
        String masterEventId = (String) event.get("master_event_id");
        if (!(event.get("original_start_time") instanceof Number original)) {
            throw new IllegalStateException("occurrence " + event.get("id") + " has no original_start_time");
        }
        List<Map<String, Object>> found = jdbc.queryForList(
                "SELECT internal_id, sync_state, desired FROM event_sync_map WHERE grant_id = ? AND nylas_event_id = ?",
                grantId, masterEventId);
        if (!found.isEmpty() && ("deleted".equals(found.get(0).get("sync_state"))
                || "deleted".equals(found.get(0).get("desired")))) {
            // the series was deleted (on either side): none of its occurrences comes to life again
            exchange.setProperty(InboundPlanner.OUTCOME, "series-deleted");
            return null;
        }
        List<String> masters = found.stream().map(r -> (String) r.get("internal_id")).toList();
        if (masters.isEmpty()) {
            throw new IllegalStateException("the series " + masterEventId + " of occurrence " + event.get("id")
                    + " is not synced yet");
        }
        String masterRecordId = masters.get(0);
        String recordId = recordOf(grantId, (String) event.get("id"), masterRecordId, original.longValue());
        if (!"cancelled".equals(event.get("status")) && event.get("updated_at") instanceof Number updatedAt
                && mappings.reviveOccurrence(recordId, updatedAt.longValue())) {
            LOG.info("Occurrence {} of series {} was edited after its record {} was removed: recorded again",
                    event.get("id"), masterEventId, recordId);
        }
        event.put("master_record_id", masterRecordId);
        event.remove("recurrence"); // an occurrence has none of its own
        Map<String, Object> metadata = event.get("metadata") instanceof Map<?, ?> m
                ? new LinkedHashMap<>((Map<String, Object>) m) : new LinkedHashMap<>();
        metadata.put("key1", recordId);
        event.put("metadata", metadata);
        return event;
    }

    private String recordOf(String grantId, String eventId, String masterRecordId, long originalStart) {
        List<String> linked = jdbc.queryForList(
                "SELECT internal_id FROM event_sync_map WHERE grant_id = ? AND nylas_event_id = ?", String.class,
                grantId, eventId);
        if (!linked.isEmpty()) {
            return linked.get(0);
        }
        List<String> local = jdbc.queryForList(
                "SELECT id FROM app_event WHERE master_record_id = ? AND original_start_time = ?", String.class,
                masterRecordId, originalStart);
        if (!local.isEmpty()) {
            return local.get(0);
        }
        return UUID.nameUUIDFromBytes((masterRecordId + "@" + originalStart).getBytes(StandardCharsets.UTF_8))
                .toString();
    }

    /** Starts looking for one occurrence in its series' listing (variables {@code occurrence}, {@code seriesPage}). */
    public void startSearch(Exchange exchange) {
        exchange.setVariable("occurrence", null);
        exchange.setVariable("seriesPage", "");
    }

    /**
     * Reads one page of the series' listing: the occurrence named by {@code CalsyncEventId} (or, without one, the one
     * starting originally at the variable {@code CalsyncOriginalStartTime}), if on it, becomes the
     * variable {@code occurrence}; {@code seriesPage} the next page's cursor, or null after the last page.
     */
    public void searchPage(Exchange exchange) throws java.io.IOException {
        String wantedId = exchange.getMessage().getHeader(EVENT_ID, String.class);
        Long wantedStart = exchange.getVariable(ORIGINAL_START_TIME, Long.class);
        for (Map<String, Object> event : seriesPage(exchange)) {
            if (wantedId != null ? wantedId.equals(event.get("id"))
                    : event.get("original_start_time") instanceof Number n && wantedStart != null
                    && n.longValue() == wantedStart) {
                exchange.setVariable("occurrence", new LinkedHashMap<>(event));
            }
        }
    }

    /**
     * The id of the occurrence an occurrence record names (header {@code CalsyncEventId}), and whether the calendar
     * cancelled it (variable {@code occurrenceCancelled}): listed as cancelled, or not listed although its original
     * start is inside the listed window (an excluded date, or a rule that no longer makes it). Fails for an original
     * start outside the window: the listing cannot tell.
     */
    public void foundOccurrence(Exchange exchange) {
        Map<?, ?> occurrence = exchange.getVariable("occurrence", Map.class);
        Message m = exchange.getMessage();
        Long start = exchange.getVariable(ORIGINAL_START_TIME, Long.class);
        long[] window = nylas.seriesWindow();
        if (occurrence == null && (start == null || start < window[0] || start > window[1])) {
            throw new IllegalStateException("the series " + exchange.getVariable(MASTER_EVENT_ID)
                    + " lists no occurrence starting at " + start + " (original_start_time of record "
                    + m.getHeader(RECORD_ID) + "), which is outside the listed window");
        }
        exchange.setVariable("occurrenceCancelled", occurrence == null || "cancelled".equals(occurrence.get("status")));
        if (occurrence != null) {
            m.setHeader(EVENT_ID, occurrence.get("id"));
        }
    }

    /** The occurrence found, as cancelled: it is recorded so, never as a live one. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> cancelledOccurrence(Exchange exchange) {
        Map<String, Object> occurrence = new LinkedHashMap<>((Map<String, Object>) exchange.getVariable("occurrence"));
        occurrence.put("status", "cancelled");
        if (occurrence.get("master_event_id") == null) {
            occurrence.put("master_event_id", exchange.getVariable(MASTER_EVENT_ID));
        }
        return occurrence;
    }

    /** The ids and events of the occurrence records of a master record, for deleting them with their series. */
    public List<Map<String, Object>> occurrenceRecords(Exchange exchange) {
        String master = exchange.getMessage().getHeader(RECORD_ID, String.class);
        return jdbc.queryForList("""
                SELECT e.id, e.grant_id, e.calendar_id, m.nylas_event_id
                  FROM app_event e LEFT JOIN event_sync_map m ON m.internal_id = e.id
                 WHERE e.master_record_id = ?""", master);
    }

    private static List<String> ids(Object value) {
        List<String> out = new ArrayList<>();
        if (value instanceof List<?> list) {
            for (Object id : list) {
                if (id != null && !id.toString().isBlank()) {
                    out.add(id.toString());
                }
            }
        }
        return out;
    }
}
