package dev.calsync.inbound;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

/**
 * Decides what an inbound {@code event.*} notification changes, from the event and its mapping row. Pure functions
 * ({@link #choose}, {@link #planUpsert}, {@link #planDelete}) hold the rules; the {@code Exchange} methods only move
 * values between them and the route's headers.
 * <p>
 * The rules, which make the result independent of delivery order and of repeats:
 * <ul>
 *   <li>a tombstoned mapping wins over everything: nothing deleted comes back;</li>
 *   <li>an event older ({@code updated_at}) than what was applied is stale and skipped;</li>
 *   <li>an event whose canonical hash equals the stored one is an echo or a repeat and writes nothing;</li>
 *   <li>a delete with no mapping leaves a tombstone, so a late create or update does not resurrect the event.</li>
 * </ul>
 */
@Component("inboundPlanner")
public class InboundPlanner {

    public static final String GRANT_ID = "CalsyncGrantId";
    public static final String EVENT_ID = "CalsyncEventId";
    public static final String CALENDAR_ID = "CalsyncCalendarId";
    public static final String RECORD_HINT = "CalsyncRecordHint";
    public static final String ACTION = "CalsyncAction";
    public static final String RECORD_ID = "CalsyncRecordId";
    public static final String CONTENT_HASH = "CalsyncContentHash";
    public static final String REMOTE_UPDATED_AT = "CalsyncRemoteUpdatedAt";
    public static final String REMOTE_METADATA = "CalsyncRemoteMetadata";
    public static final String OUTCOME = "outcome";

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private final EventCanonicalizer canonicalizer;

    public InboundPlanner(EventCanonicalizer canonicalizer) {
        this.canonicalizer = canonicalizer;
    }

    /** Sets the headers the mapping lookups use: grant, event id, calendar and the metadata.key1 record hint. */
    public void lookupKeys(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        Message m = exchange.getMessage();
        m.setHeader(GRANT_ID, string(event.get("grant_id")));
        m.setHeader(EVENT_ID, string(event.get("id")));
        m.setHeader(CALENDAR_ID, string(event.get("calendar_id")));
        String hint = recordHint(event);
        m.setHeader(RECORD_HINT, hint == null ? "" : hint);
        try {
            m.setHeader(REMOTE_METADATA, event.get("metadata") == null ? null : JSON.writeValueAsString(event.get("metadata")));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Picks the mapping row from the two lookups and plans an upsert. */
    public void upsert(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        apply(exchange, planUpsert(hintChecked(exchange, event), chosen(exchange, event)));
    }

    /** Picks the mapping row from the two lookups and plans a delete. */
    public void delete(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        apply(exchange, planDelete(hintChecked(exchange, event), chosen(exchange, event)));
    }

    /**
     * The record named by {@code metadata.key1} when it is ours for this event (same grant, and not already linked
     * to another event), otherwise the row matched by {@code (grant_id, nylas_event_id)}.
     */
    public static Map<String, Object> choose(List<Map<String, Object>> byRecord, List<Map<String, Object>> byEvent,
                                             String grantId, String eventId) {
        if (byRecord != null && !byRecord.isEmpty()) {
            Map<String, Object> row = byRecord.get(0);
            Object linked = row.get("nylas_event_id");
            if (Objects.equals(row.get("grant_id"), grantId) && (linked == null || linked.equals(eventId))) {
                return row;
            }
        }
        return byEvent == null || byEvent.isEmpty() ? null : byEvent.get(0);
    }

    public InboundPlan planUpsert(Map<String, Object> event, Map<String, Object> mapping) {
        String hash = canonicalizer.hash(event);
        Long updatedAt = number(event.get("updated_at"));
        if (mapping == null) {
            String hint = recordHint(event);
            String recordId = hint != null ? hint : UUID.randomUUID().toString();
            return new InboundPlan(InboundPlan.Action.CREATE, recordId, hash, updatedAt,
                    hint != null ? "relinked" : "created", record(recordId, event));
        }
        String recordId = (String) mapping.get("internal_id");
        if ("deleted".equals(mapping.get("sync_state"))) {
            return InboundPlan.skip("tombstoned");
        }
        if ("pending".equals(mapping.get("sync_state")) && "app".equals(mapping.get("source"))) {
            // an application change is on its way to the calendar: it is newer than this event (often its echo)
            return InboundPlan.skip("app-change-pending");
        }
        Long applied = number(mapping.get("remote_updated_at"));
        if (updatedAt != null && applied != null && updatedAt < applied) {
            return InboundPlan.skip("stale");
        }
        if ("synced".equals(mapping.get("sync_state")) && hash.equals(mapping.get("content_hash"))) {
            return InboundPlan.skip("unchanged");
        }
        return new InboundPlan(InboundPlan.Action.UPDATE, recordId, hash, updatedAt, "updated",
                record(recordId, event));
    }

    public InboundPlan planDelete(Map<String, Object> event, Map<String, Object> mapping) {
        if (mapping == null) {
            String hint = recordHint(event);
            return new InboundPlan(InboundPlan.Action.DELETE, hint != null ? hint : UUID.randomUUID().toString(),
                    "", null, "tombstoned", null);
        }
        if ("deleted".equals(mapping.get("sync_state"))) {
            return InboundPlan.skip("already-deleted");
        }
        return new InboundPlan(InboundPlan.Action.DELETE, (String) mapping.get("internal_id"), "", null,
                "deleted", null);
    }

    /** The local record, in the Nylas shape, that an inbound event becomes. */
    static Map<String, Object> record(String recordId, Map<String, Object> event) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("id", recordId);
        for (String field : List.of("grant_id", "calendar_id", "title", "description", "location", "when",
                "participants")) {
            record.put(field, event.get(field));
        }
        return record;
    }

    /** The record id we stamped on an event ({@code metadata.key1}), or null. */
    public static String recordHint(Map<String, Object> event) {
        if (event.get("metadata") instanceof Map<?, ?> metadata && metadata.get("key1") != null) {
            String key = metadata.get("key1").toString();
            return key.isBlank() ? null : key;
        }
        return null;
    }

    /**
     * The event, without its {@code metadata.key1} when that names a record already linked to another event (a
     * copied event carries our metadata too): such an event is new, not that record.
     */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> hintChecked(Exchange exchange, Map<String, Object> event) {
        List<Map<String, Object>> byRecord = exchange.getVariable("byRecord", List.class);
        if (byRecord == null || byRecord.isEmpty() || choose(byRecord, null, string(event.get("grant_id")),
                string(event.get("id"))) != null) {
            return event;
        }
        Map<String, Object> copy = new LinkedHashMap<>(event);
        copy.remove("metadata");
        return copy;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> chosen(Exchange exchange, Map<String, Object> event) {
        return choose(exchange.getVariable("byRecord", List.class), exchange.getVariable("byEvent", List.class),
                string(event.get("grant_id")), string(event.get("id")));
    }

    private static void apply(Exchange exchange, InboundPlan plan) {
        Message m = exchange.getMessage();
        m.setHeader(ACTION, plan.action().name().toLowerCase(java.util.Locale.ROOT));
        m.setHeader(RECORD_ID, plan.recordId());
        m.setHeader(CONTENT_HASH, plan.contentHash());
        m.setHeader(REMOTE_UPDATED_AT, plan.remoteUpdatedAt());
        exchange.setProperty(OUTCOME, plan.outcome());
        if (plan.record() != null) {
            m.setBody(plan.record());
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> event(Exchange exchange) {
        return exchange.getMessage().getBody(Map.class);
    }

    private static String string(Object value) {
        return value == null ? null : value.toString();
    }

    /** A Unix time or count from JSON or SQL, or null. */
    public static Long number(Object value) {
        if (value instanceof Number n) {
            return n.longValue();
        }
        try {
            return value == null ? null : Long.parseLong(value.toString());
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
