package dev.calsync.inbound;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

import dev.calsync.mapping.ClaimMappings;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.ACTION;
import static dev.calsync.CalsyncVariables.AUTHORITATIVE;
import static dev.calsync.CalsyncVariables.CONTENT_HASH;
import static dev.calsync.CalsyncVariables.RECORD_HINT;
import static dev.calsync.CalsyncVariables.REMOTE_METADATA;
import static dev.calsync.CalsyncVariables.REMOTE_UPDATED_AT;

/**
 * Decides what an inbound {@code event.*} notification changes, from the event and its mapping row. Pure functions
 * ({@link #choose}, {@link #assess}, {@link #isDuplicate}, {@link #planUpsert}, {@link #planDelete}) hold the rules;
 * the {@code Exchange} methods only move values between them and the route's headers and variables. {@link #assess}
 * is the one decision function: reconciliation ({@code Reconciler}) uses it too, and adds only its conflict policy.
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

    public static final String OUTCOME = "outcome";
    /** Variable: true when the claim already read this event's mapping rows ({@code byRecord}, {@code byEvent}). */
    public static final String MAPPINGS_PREFETCHED = "mappingsPrefetched";

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private final EventCanonicalizer canonicalizer;

    public InboundPlanner(EventCanonicalizer canonicalizer) {
        this.canonicalizer = canonicalizer;
    }

    /**
     * Sets the headers the mapping lookups use (grant, event id, calendar) and the variables of the metadata.key1
     * record hint and the event's metadata; when the claim already read the mapping rows for exactly these keys
     * ({@link ClaimMappings}), sets them as {@code byRecord} and {@code byEvent} and the variable {@code
     * mappingsPrefetched}, so the lookups are skipped.
     */
    public void lookupKeys(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        Message m = exchange.getMessage();
        m.setHeader(GRANT_ID, string(event.get("grant_id")));
        m.setHeader(EVENT_ID, string(event.get("id")));
        m.setHeader(CALENDAR_ID, string(event.get("calendar_id")));
        String hint = recordHint(event);
        exchange.setVariable(RECORD_HINT, hint == null ? "" : hint);
        exchange.setVariable(REMOTE_METADATA, metadataJson(event));
        // the rows the claim read for these keys, used once (a refetched event looks up again)
        ClaimMappings.Found found = exchange.getVariable(ClaimMappings.KEY, ClaimMappings.Found.class);
        exchange.removeVariable(ClaimMappings.KEY);
        boolean prefetched = found != null && found.answers(hint, m.getHeader(GRANT_ID, String.class),
                m.getHeader(EVENT_ID, String.class));
        if (prefetched) {
            exchange.setVariable("byRecord", found.byRecord());
            exchange.setVariable("byEvent", found.byEvent());
        }
        exchange.setVariable(MAPPINGS_PREFETCHED, prefetched);
    }

    /**
     * Picks the mapping row from the two lookups and plans an upsert. An event fetched from Nylas because of a
     * same-second tie (variable {@code CalsyncAuthoritative}) is the calendar's current state and is applied as it is.
     */
    public void upsert(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        boolean authoritative = Boolean.parseBoolean(String.valueOf(exchange.removeVariable(AUTHORITATIVE)));
        if (isDuplicate(exchange, event)) {
            exchange.setVariable(ACTION, "duplicate");
            exchange.setProperty(OUTCOME, "duplicate-deleted");
            return;
        }
        Map<String, Object> mapping = chosen(exchange, event);
        if (needsDeletingAgain(event, mapping)) {
            exchange.setVariable(ACTION, "delete-again");
            exchange.getMessage().setHeader(RECORD_ID, mapping.get("internal_id"));
            exchange.setProperty(OUTCOME, "deleted-again");
            return;
        }
        apply(exchange, planUpsert(hintChecked(exchange, event), mapping, authoritative));
    }

    /**
     * An event carrying a record the application deleted, which the delete never removed: its row is an
     * application tombstone that never learned this event (a create that landed after the delete looked for it).
     * It is deleted on the calendar again; nothing is written locally.
     */
    public static boolean needsDeletingAgain(Map<String, Object> event, Map<String, Object> mapping) {
        return mapping != null && "deleted".equals(mapping.get("sync_state")) && "app".equals(mapping.get("source"))
                && Objects.equals(mapping.get("internal_id"), recordHint(event))
                && !Objects.equals(mapping.get("nylas_event_id"), string(event.get("id")));
    }

    /**
     * A second calendar event carrying a record's {@code metadata.key1}, while the record is linked to another event
     * and more than one create was sent for it: a create that landed after the one adopted. It is deleted, not
     * imported. (With a single create, a second event with our key is a copy the user made, and is imported.)
     */
    @SuppressWarnings("unchecked")
    static boolean isDuplicate(Exchange exchange, Map<String, Object> event) {
        List<Map<String, Object>> byRecord = exchange.getVariable("byRecord", List.class);
        List<Map<String, Object>> byEvent = exchange.getVariable("byEvent", List.class);
        return isDuplicate(byRecord == null || byRecord.isEmpty() ? null : byRecord.get(0),
                byEvent == null || byEvent.isEmpty() ? null : byEvent.get(0), event);
    }

    /** Picks the mapping row from the two lookups and plans a delete. */
    public void delete(Exchange exchange) {
        Map<String, Object> event = event(exchange);
        apply(exchange, planDelete(hintChecked(exchange, event), chosen(exchange, event)));
    }

    /** {@link #isDuplicate(Exchange, Map)} on the two mapping rows found (either may be null). */
    public static boolean isDuplicate(Map<String, Object> byRecord, Map<String, Object> byEvent,
                                      Map<String, Object> event) {
        if (byRecord == null || byEvent != null) {
            return false;
        }
        Object linked = byRecord.get("nylas_event_id");
        Long creates = number(byRecord.get("create_attempts"));
        return Objects.equals(byRecord.get("grant_id"), string(event.get("grant_id"))) && linked != null
                && !linked.equals(string(event.get("id"))) && creates != null && creates > 1;
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
        return planUpsert(event, mapping, false);
    }

    public InboundPlan planUpsert(Map<String, Object> event, Map<String, Object> mapping, boolean authoritative) {
        Assessment a = assess(event, mapping);
        if (a.situation() == Situation.NEW) {
            String hint = recordHint(event);
            String recordId = hint != null ? hint : UUID.randomUUID().toString();
            return new InboundPlan(InboundPlan.Action.CREATE, recordId, a.hash(), a.updatedAt(),
                    hint != null ? "relinked" : "created", record(recordId, event));
        }
        String recordId = (String) mapping.get("internal_id");
        return switch (a.situation()) {
            case TOMBSTONED -> InboundPlan.skip(recordId, "tombstoned");
            // an application change is on its way to the calendar: it is newer than this event (often its echo)
            case APP_CHANGE_PENDING -> InboundPlan.skip(recordId, "app-change-pending");
            // the application's change could not be pushed and waits for a replay; it stays what the record holds
            case APP_CHANGE_FAILED -> InboundPlan.skip(recordId, "app-change-failed");
            case STALE -> InboundPlan.skip(recordId, "stale");
            case UNCHANGED -> InboundPlan.skip(recordId, "unchanged");
            // updated_at has whole seconds: two edits within one second tie, and which is newer is unknown. Ask
            // Nylas for the event as it is now (unless this is already what it holds now), and apply that.
            case TIE -> authoritative
                    ? new InboundPlan(InboundPlan.Action.UPDATE, recordId, a.hash(), a.updatedAt(), "updated",
                    record(recordId, event))
                    : new InboundPlan(InboundPlan.Action.REFETCH, recordId, a.hash(), a.updatedAt(), "refetched", null);
            default -> new InboundPlan(InboundPlan.Action.UPDATE, recordId, a.hash(), a.updatedAt(), "updated",
                    record(recordId, event));
        };
    }

    /** Where a calendar event stands against its mapping row, by the rules live sync and reconciliation share. */
    public enum Situation {
        /** no mapping row: a new event (or one carrying our record id: relink) */
        NEW,
        /** the row is a tombstone: nothing deleted comes back */
        TOMBSTONED,
        /** an application change (or delete) is on its way to the calendar */
        APP_CHANGE_PENDING,
        /** an application change failed to push and waits for a replay */
        APP_CHANGE_FAILED,
        /** older ({@code updated_at}) than what was applied */
        STALE,
        /** synced, and the same content (canonical hash) */
        UNCHANGED,
        /** synced, the same {@code updated_at} as applied, other content: the order of the two is unknown */
        TIE,
        /** newer content to apply */
        CHANGED
    }

    /**
     * @param sameContent whether the event's canonical hash equals the row's
     * @param remoteNewer whether the event is newer than what was applied (or either time is unknown)
     */
    public record Assessment(Situation situation, String hash, Long updatedAt, boolean sameContent,
                             boolean remoteNewer) {
    }

    /** The one decision function: the rules, in order, that make the result independent of delivery order. */
    public Assessment assess(Map<String, Object> event, Map<String, Object> mapping) {
        String hash = canonicalizer.hash(event);
        Long updatedAt = number(event.get("updated_at"));
        if (mapping == null) {
            return new Assessment(Situation.NEW, hash, updatedAt, false, true);
        }
        Long applied = number(mapping.get("remote_updated_at"));
        boolean same = hash.equals(mapping.get("content_hash"));
        boolean newer = updatedAt == null || applied == null || updatedAt > applied;
        Situation situation;
        boolean appSide = "app".equals(mapping.get("source"));
        if ("deleted".equals(mapping.get("sync_state"))) {
            situation = Situation.TOMBSTONED;
        } else if (appSide && "pending".equals(mapping.get("sync_state"))) {
            situation = Situation.APP_CHANGE_PENDING;
        } else if (appSide && "failed".equals(mapping.get("sync_state"))) {
            situation = Situation.APP_CHANGE_FAILED;
        } else if (updatedAt != null && applied != null && updatedAt < applied) {
            situation = Situation.STALE;
        } else if ("synced".equals(mapping.get("sync_state")) && same) {
            situation = Situation.UNCHANGED;
        } else if ("synced".equals(mapping.get("sync_state")) && updatedAt != null && updatedAt.equals(applied)) {
            situation = Situation.TIE;
        } else {
            situation = Situation.CHANGED;
        }
        return new Assessment(situation, hash, updatedAt, same, newer);
    }

    public InboundPlan planDelete(Map<String, Object> event, Map<String, Object> mapping) {
        if (mapping == null) {
            String hint = recordHint(event);
            return new InboundPlan(InboundPlan.Action.DELETE, hint != null ? hint : UUID.randomUUID().toString(),
                    "", null, "tombstoned", null);
        }
        if ("deleted".equals(mapping.get("sync_state"))) {
            // the local delete is repeated (it is idempotent): a crash between tombstone and local delete is finished
            return new InboundPlan(InboundPlan.Action.DELETE, (String) mapping.get("internal_id"), "", null,
                    "already-deleted", null);
        }
        return new InboundPlan(InboundPlan.Action.DELETE, (String) mapping.get("internal_id"), "", null,
                "deleted", null);
    }

    /** The local record, in the Nylas shape, that an inbound event becomes. */
    static Map<String, Object> record(String recordId, Map<String, Object> event) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("id", recordId);
        for (String field : List.of("grant_id", "calendar_id", "title", "description", "location", "when",
                "participants", "recurrence", "master_record_id", "original_start_time")) {
            record.put(field, event.get(field));
        }
        record.put("status", "cancelled".equals(event.get("status")) ? "cancelled" : "confirmed");
        return record;
    }

    /** The event's {@code metadata} as JSON text (what the mapping row keeps of it), or null. */
    public static String metadataJson(Map<String, Object> event) {
        try {
            return event.get("metadata") == null ? null : JSON.writeValueAsString(event.get("metadata"));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
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
        exchange.setVariable(ACTION, plan.action().name().toLowerCase(java.util.Locale.ROOT));
        m.setHeader(RECORD_ID, plan.recordId());
        exchange.setVariable(CONTENT_HASH, plan.contentHash());
        exchange.setVariable(REMOTE_UPDATED_AT, plan.remoteUpdatedAt());
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
