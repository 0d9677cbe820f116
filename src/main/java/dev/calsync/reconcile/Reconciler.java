package dev.calsync.reconcile;

import java.sql.Array;
import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.inbound.InboundPlan;
import dev.calsync.inbound.InboundPlanner;
import dev.calsync.mapping.SyncMappings;
import dev.calsync.nylas.NylasRequests;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.apache.camel.ProducerTemplate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.beans.factory.annotation.Qualifier;

import static dev.calsync.CalsyncHeaders.CALENDAR_ID;
import static dev.calsync.CalsyncHeaders.EVENT_ID;
import static dev.calsync.CalsyncHeaders.GRANT_ID;
import static dev.calsync.CalsyncHeaders.RECORD_ID;
import static dev.calsync.CalsyncVariables.NOTIFICATION_ID;
import static dev.calsync.CalsyncVariables.REPAIR;
import static dev.calsync.CalsyncVariables.RUN_ID;

/**
 * Compares one calendar, page by page, with the mapping and the local store, and decides the repairs. The repairs
 * themselves run through the routes live sync uses ({@code calsync-inbound-event-upsert},
 * {@code calsync-inbound-event-delete}, the push outbox), so a dry run's plan is exactly what a real run does. Memory
 * stays flat: a page at a time, plus the set of event ids seen.
 */
@Component("reconciler")
public class Reconciler {

    static final String LOCAL_UPSERT_BATCH = "calsync-local-upsert-batch";
    private static final String IMPORTS = "reconcileImports";
    private static final String ONE_BY_ONE = "reconcileOneByOne";

    private static final Logger LOG = LoggerFactory.getLogger(Reconciler.class);
    static final String REPORT = "reconcileReport";
    static final int PAGE_SIZE = 200;

    private final JdbcTemplate jdbc;
    private final dev.calsync.mapping.SyncMappings mappings;
    private final InboundPlanner planner;
    private final ObjectMapper json;
    private final NylasRequests nylas;
    private final ReconcileRuns runs;
    private final CalsyncProperties.Reconcile config;
    private final Clock clock;
    private final ProducerTemplate producer;

    public Reconciler(JdbcTemplate jdbc, dev.calsync.mapping.SyncMappings mappings, InboundPlanner planner,
                      ObjectMapper json, NylasRequests nylas, ReconcileRuns runs,
                      CalsyncProperties properties, @Qualifier("calsyncClock") Clock clock, ProducerTemplate producer) {
        this.producer = producer;
        this.jdbc = jdbc;
        this.mappings = mappings;
        this.planner = planner;
        this.json = json;
        this.nylas = nylas;
        this.runs = runs;
        this.config = properties.reconcile();
        this.clock = clock;
    }

    /** Loads the run (variable {@code CalsyncRunId}) into the exchange property {@code reconcileReport}. */
    public void begin(Exchange exchange) {
        String runId = exchange.getVariable(RUN_ID, String.class);
        // a run started from the API carries the request's HTTP headers: none of them may reach Nylas
        exchange.getMessage().removeHeaders("*");
        exchange.setVariable(RUN_ID, runId);
        if (!runs.renew(runId)) {
            throw new IllegalStateException("run " + runId + " is no longer running");
        }
        Map<String, Object> run = runs.settings(runId);
        long now = clock.instant().getEpochSecond();
        ReconcileReport report = new ReconcileReport(runId, (String) run.get("grant_id"),
                (String) run.get("calendar_id"), (Boolean) run.get("dry_run"), (String) run.get("conflict_policy"),
                (String) run.get("missing_policy"), now - config.windowPast().toSeconds(),
                now + config.windowFuture().toSeconds());
        exchange.setProperty(REPORT, report);
        exchange.getMessage().setHeader(GRANT_ID, report.grantId);
        exchange.getMessage().setHeader(CALENDAR_ID, report.calendarId);
        LOG.info("Reconciliation {} of {}/{} started{}", runId, report.grantId, report.calendarId,
                report.dryRun ? " (dry run)" : "");
    }

    /** {@code GET /v3/grants/{grant}/events?calendar_id&limit=200&start&end[&page_token]}: the next page. */
    public void listPage(Exchange exchange) {
        ReconcileReport r = report(exchange);
        // masters and edited occurrences, never a series expanded: a series is repaired as a series (its default is
        // documented both ways, so it is always sent); cancelled ones too, for Google's cancelled occurrences
        String query = "calendar_id=" + NylasRequests.encode(r.calendarId) + "&limit=" + PAGE_SIZE + "&start="
                + r.windowStart + "&end=" + r.windowEnd + "&expand_recurring=false&show_cancelled=true"
                + (r.pageToken == null ? "" : "&page_token=" + NylasRequests.encode(r.pageToken));
        nylas.prepare(exchange, "GET", "/v3/grants/" + NylasRequests.encode(r.grantId) + "/events", query);
        exchange.getMessage().setBody(null);
    }

    /**
     * Starts the GET of the run's next page in the background ({@code direct:calsync-reconcile-prefetch-page}, the
     * same calls, throttle and circuit as any page), so its round trip overlaps the work on the page just read; a run
     * reads its pages one ahead at most. Nothing when this was the last page.
     */
    public void prefetchNextPage(Exchange exchange) {
        ReconcileReport r = report(exchange);
        if (r.morePages && r.nextPage == null) {
            Exchange request = exchange.copy();
            request.getMessage().setBody(null);
            r.nextPage = producer.asyncSend("direct:calsync-reconcile-prefetch-page", request);
        }
    }

    /**
     * Takes the page {@link #prefetchNextPage} asked for, as if the route had just called Nylas: its answer, or the
     * failure it met (then the run's retry asks for the page again, in the foreground).
     */
    public void takePrefetchedPage(Exchange exchange) throws Exception {
        ReconcileReport r = report(exchange);
        java.util.concurrent.CompletableFuture<Exchange> next = r.nextPage;
        r.nextPage = null;
        Exchange answered = next.get();
        if (answered.getException() != null) {
            throw answered.getException();
        }
        exchange.getMessage().setHeaders(new HashMap<>(answered.getMessage().getHeaders()));
        exchange.getMessage().setBody(answered.getMessage().getBody());
    }

    /**
     * Reads a page answer: the body becomes its events, and the report learns where the next page starts (so it can
     * be asked for before these events are decided).
     */
    public List<Map<String, Object>> readPage(Exchange exchange) throws java.io.IOException {
        ReconcileReport r = report(exchange);
        String body = nylas.checked(exchange);
        if (body == null) {
            throw new IllegalStateException("Nylas answered 404 to the events list of " + r.grantId);
        }
        // text PostgreSQL cannot store (NUL, unpaired surrogates) is compared and synced as U+FFFD
        Map<String, Object> page;
        try {
            page = dev.calsync.inbound.StorableText.cleanValue(json.readValue(body,
                    new TypeReference<Map<String, Object>>() {
                    }));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            // not an I/O failure worth retrying: the same answer would come back
            throw new IllegalStateException("Nylas answered a page of events that is not JSON");
        }
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> events = page.get("data") instanceof List<?> l ? (List<Map<String, Object>>) l
                : List.of();
        r.pages++;
        r.pageToken = page.get("next_cursor") instanceof String s && !s.isBlank() ? s : null;
        r.morePages = r.pageToken != null;
        return events;
    }

    /**
     * Decides what each event of the page ({@link #readPage}) needs; the body becomes the repairs to make. The run's
     * lease is renewed first (here, not in {@code readPage}, so the renewal does not delay asking for the next page);
     * a run given up meanwhile stops.
     */
    public List<Map<String, Object>> decidePage(Exchange exchange) {
        ReconcileReport r = report(exchange);
        if (!runs.renew(r.runId)) {
            throw new IllegalStateException("run " + r.runId + " was given up (lease expired)");
        }
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> events = exchange.getMessage().getBody(List.class);
        return decide(r, events);
    }

    List<Map<String, Object>> decide(ReconcileReport r, List<Map<String, Object>> events) {
        List<String> eventIds = new ArrayList<>();
        List<String> recordHints = new ArrayList<>();
        for (Map<String, Object> e : events) {
            eventIds.add((String) e.get("id"));
            String hint = InboundPlanner.recordHint(e);
            if (hint != null && e.get("master_event_id") == null) {
                recordHints.add(hint);
            }
        }
        Map<String, Map<String, Object>> byEvent = new HashMap<>();
        Map<String, Map<String, Object>> byRecord = new HashMap<>();
        for (Map<String, Object> m : mappings(r.grantId, eventIds, recordHints)) {
            if (m.get("nylas_event_id") != null) {
                byEvent.put((String) m.get("nylas_event_id"), m);
            }
            byRecord.put((String) m.get("internal_id"), m);
        }
        List<String> localIds = recordHints.isEmpty() ? List.of() : queryIds(
                "SELECT id FROM app_event WHERE id = ANY(?)", recordHints);
        List<Map<String, Object>> repairs = new ArrayList<>();
        for (Map<String, Object> event : events) {
            String eventId = (String) event.get("id");
            if ("cancelled".equals(event.get("status")) && event.get("master_event_id") == null) {
                // a deleted event (listed for the cancelled occurrences): as if not listed, so its record is
                // confirmed gone by the missing-event pass like any other
                continue;
            }
            r.eventsSeen++;
            r.seen.add(eventId);
            try {
                if (event.get("master_event_id") != null) {
                    // an edited or cancelled occurrence: matched by its master, not by the metadata it may share
                    Map<String, Object> linked = byEvent.get(eventId);
                    InboundPlanner.Assessment a = planner.assess(event, linked);
                    if (linked != null && (a.situation() == InboundPlanner.Situation.UNCHANGED
                            || a.situation() == InboundPlanner.Situation.STALE
                            || a.situation() == InboundPlanner.Situation.TOMBSTONED
                            || a.situation() == InboundPlanner.Situation.APP_CHANGE_PENDING
                            || a.situation() == InboundPlanner.Situation.APP_CHANGE_FAILED)) {
                        r.unchanged++;
                    } else {
                        r.updated += linked == null ? 0 : 1;
                        r.created += linked == null ? 1 : 0;
                        r.plan(linked == null ? "create" : "update",
                                linked == null ? null : (String) linked.get("internal_id"), eventId);
                        repairs.add(repair("occurrence", event, null));
                    }
                    continue;
                }
                String hint = InboundPlanner.recordHint(event);
                Map<String, Object> hinted = hint == null ? null : byRecord.get(hint);
                Map<String, Object> linked = byEvent.get(eventId);
                if (InboundPlanner.isDuplicate(hinted, linked, event)) {
                    // a create that landed after the one adopted: deleted, as live sync does
                    r.deleted++;
                    r.plan("delete-duplicate", hint, eventId);
                    repairs.add(repair("delete-duplicate", event, hint));
                    continue;
                }
                Map<String, Object> mapping = InboundPlanner.choose(hinted == null ? null : List.of(hinted),
                        linked == null ? null : List.of(linked), r.grantId, eventId);
                InboundPlanner.Assessment a = planner.assess(event, mapping);
                String recordId = mapping == null ? null : (String) mapping.get("internal_id");
                switch (a.situation()) {
                    case NEW -> {
                        boolean relink = hint != null && localIds.contains(hint);
                        if (relink) {
                            r.relinked++;
                        } else {
                            r.created++;
                        }
                        r.plan(relink ? "relink" : "create", hint, eventId);
                        // a new event that carries no record id of ours: imported with the page's others in one batch
                        repairs.add(repair(hint == null ? "import" : "apply", event, hint));
                    }
                    case TOMBSTONED -> {
                        if ("app".equals(mapping.get("source"))) {
                            r.deleted++; // the application deleted it and the calendar still has it
                            r.plan("delete", recordId, eventId);
                            repairs.add(repair("delete-again", event, recordId));
                        } else {
                            r.unchanged++; // nothing deleted comes back
                        }
                    }
                    case APP_CHANGE_PENDING, APP_CHANGE_FAILED -> {
                        if ("deleted".equals(mapping.get("desired"))) {
                            // the application deleted it: that delete is on its way (a failed one is retried below)
                            r.deleted++;
                            r.plan("delete", recordId, eventId);
                        } else if (a.sameContent()) {
                            r.unchanged++; // the calendar already shows the application's change
                        } else if (!a.remoteNewer()) {
                            // only the application side changed: its change goes out (again)
                            r.updated++;
                            r.plan("push", recordId, eventId);
                            repairs.add(repair("push", event, recordId));
                        } else {
                            // both sides changed since the last sync: the conflict policy decides
                            r.conflicts++;
                            String winner = winner(r.conflictPolicy,
                                    InboundPlanner.number(mapping.get("local_updated_at")), a.updatedAt());
                            r.updated++;
                            r.plan("app".equals(winner) ? "push" : "update", recordId, eventId);
                            Map<String, Object> repair = repair("app".equals(winner) ? "push" : "yield", event, recordId);
                            repair.put("conflict", Map.of("policy", r.conflictPolicy, "winner", winner,
                                    "local_updated_at", Objects.requireNonNullElse(mapping.get("local_updated_at"), 0L),
                                    "remote_updated_at", a.updatedAt() == null ? 0L : a.updatedAt()));
                            repairs.add(repair);
                        }
                    }
                    case STALE, UNCHANGED -> r.unchanged++;
                    // a same-second difference is settled by the live route, which asks Nylas (the page may be older
                    // than a same-second edit a webhook applied meanwhile)
                    case TIE, CHANGED -> {
                        r.updated++;
                        r.plan("update", recordId, eventId);
                        repairs.add(repair("apply", event, recordId));
                    }
                    default -> throw new IllegalStateException("unhandled situation " + a.situation());
                }
            } catch (RuntimeException e) {
                // an event that cannot be judged is reported and skipped; it stays "seen", so its record is kept
                r.skip(eventId, e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
                LOG.warn("Reconciliation {}: event {} could not be judged ({}); skipped", r.runId, eventId,
                        e.toString());
            }
        }
        return r.dryRun ? List.of() : repairs;
    }

    static String winner(String policy, Long localUpdatedAt, Long remoteUpdatedAt) {
        return switch (policy) {
            case "calendar-wins" -> "calendar";
            case "app-wins" -> "app";
            default -> remoteUpdatedAt != null && localUpdatedAt != null && remoteUpdatedAt > localUpdatedAt
                    ? "calendar" : "app";
        };
    }

    /**
     * Records whose event was not listed although it falls in the window: candidates for "gone from the calendar",
     * each confirmed by a GET before anything happens ({@link #goneConfirmed}). Records synced after the run began
     * are left out (the listing could not have seen them). Stops the run (nothing deleted) when the candidates are
     * every record of the calendar, or more than the allowed share.
     */
    public List<Map<String, Object>> missing(Exchange exchange) throws java.io.IOException {
        ReconcileReport r = report(exchange);
        // row by row: only the records not listed are kept, and only their time is parsed; a record whose event was
        // listed is in the window (the listing asked for the window)
        List<Map<String, Object>> gone = new ArrayList<>();
        int[] inWindow = {0};
        jdbc.query("""
                SELECT m.internal_id, m.nylas_event_id, e.when_json::text AS when_json
                  FROM event_sync_map m JOIN app_event e ON e.id = m.internal_id
                 WHERE m.grant_id = ? AND m.calendar_id = ? AND m.sync_state = 'synced'
                   AND m.nylas_event_id IS NOT NULL AND m.updated_at < ?
                   -- a cancelled occurrence is in no listing of masters and edited occurrences: it is not missing
                   AND e.status <> 'cancelled'""", row -> {
            String eventId = row.getString("nylas_event_id");
            if (r.seen.contains(eventId)) {
                inWindow[0]++;
                return;
            }
            String whenJson = row.getString("when_json");
            Object when;
            try {
                when = whenJson == null ? null : json.readValue(whenJson, Map.class);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            if (overlaps(when, r.windowStart, r.windowEnd)) {
                inWindow[0]++;
                gone.add(Map.of("internal_id", row.getString("internal_id"), "nylas_event_id", eventId));
            }
        }, r.grantId, r.calendarId, r.startedAt);
        if (!gone.isEmpty() && (gone.size() == inWindow[0] || (gone.size() > config.maxDeletesWithoutGuard()
                && gone.size() > config.maxDeleteShare() * inWindow[0]))) {
            throw new MassDeleteGuardException(gone.size(), inWindow[0]);
        }
        List<Map<String, Object>> repairs = new ArrayList<>();
        for (Map<String, Object> g : gone) {
            Map<String, Object> stub = new LinkedHashMap<>();
            stub.put("id", g.get("nylas_event_id"));
            stub.put("object", "event");
            stub.put("grant_id", r.grantId);
            stub.put("calendar_id", r.calendarId);
            repairs.add(repair("recreate".equals(r.missingPolicy) ? "recreate" : "delete", stub,
                    (String) g.get("internal_id")));
        }
        return repairs;
    }

    /** A missing event confirmed gone (the GET answered 404): counted and planned by the missing-events policy. */
    public void goneConfirmed(Exchange exchange) {
        ReconcileReport r = report(exchange);
        Map<?, ?> repair = exchange.getMessage().getBody(Map.class);
        boolean recreate = "recreate".equals(repair.get("action"));
        if (recreate) {
            r.pushed++;
        } else {
            r.deleted++;
        }
        r.plan(recreate ? "recreate" : "delete", (String) repair.get("record_id"),
                (String) ((Map<?, ?>) repair.get("event")).get("id"));
    }

    /** Failed pushes of this calendar are pushed again (the lost-response rule applies as always). */
    public void retryFailedPushes(Exchange exchange) {
        ReconcileReport r = report(exchange);
        List<String> failed = jdbc.queryForList("""
                SELECT internal_id FROM event_sync_map WHERE grant_id = ? AND calendar_id = ? AND sync_state = 'failed'""",
                String.class, r.grantId, r.calendarId);
        failed.forEach(id -> r.plan("push", id, null));
        r.pushed += failed.size();
        if (!r.dryRun && !failed.isEmpty()) {
            mappings.requeueFailed(r.grantId, r.calendarId);
        }
    }

    /**
     * The page's new events ({@code import} repairs), planned for a batch import as one by one would plan them
     * ({@link InboundPlanner#planUpsert}): kept in a property for {@link #insertImports}; the body becomes the repairs
     * left for one by one. When the local store offers no batch route (a replacement {@code local-store.camel.yaml}
     * without {@code calsync-local-upsert-batch}) every import stays one by one, as {@code apply}.
     */
    @SuppressWarnings("unchecked")
    public void importPage(Exchange exchange) {
        List<Map<String, Object>> repairs = exchange.getMessage().getBody(List.class);
        boolean batchStore = exchange.getContext().getRoute(LOCAL_UPSERT_BATCH) != null;
        List<Map<String, Object>> rest = new ArrayList<>();
        List<Import> imports = new ArrayList<>();
        for (Map<String, Object> repair : repairs) {
            if (!"import".equals(repair.get("action"))) {
                rest.add(repair);
            } else if (!batchStore) {
                rest.add(asApply(repair));
            } else {
                Map<String, Object> event = (Map<String, Object>) repair.get("event");
                InboundPlan plan = planner.planUpsert(event, null);
                imports.add(new Import(repair, plan.record(), new SyncMappings.Imported(plan.recordId(),
                        (String) event.get("id"), (String) event.get("calendar_id"), plan.contentHash(),
                        plan.remoteUpdatedAt(), InboundPlanner.metadataJson(event))));
            }
        }
        exchange.setProperty(IMPORTS, imports);
        exchange.setProperty(ONE_BY_ONE, rest);
        exchange.getMessage().setBody(rest);
    }

    /**
     * In the import's transaction: the mapping rows of the new events, pending, in one statement; their records left
     * in the variable {@code importRecords} for {@code direct:calsync-local-upsert-batch}. An event another writer
     * mapped meanwhile goes back to the body, one by one, as {@code apply}.
     */
    @SuppressWarnings("unchecked")
    public void insertImports(Exchange exchange) {
        List<Import> imports = exchange.getProperty(IMPORTS, List.class);
        java.util.Set<String> inserted = java.util.Set.copyOf(mappings.insertAllFromCalendar(report(exchange).grantId,
                imports.stream().map(Import::mapping).toList()));
        List<Map<String, Object>> rest = exchange.getProperty(ONE_BY_ONE, List.class);
        List<Import> taken = new ArrayList<>();
        for (Import i : imports) {
            if (inserted.contains(i.mapping().recordId())) {
                taken.add(i);
            } else {
                rest.add(asApply(i.repair()));
            }
        }
        exchange.setProperty(IMPORTS, taken);
        exchange.setVariable("importRecords", taken.stream().map(Import::record).toList());
    }

    /**
     * After {@code direct:calsync-local-upsert-batch}: the records it wrote are marked synced (those it refused stay).
     */
    @SuppressWarnings("unchecked")
    public void imported(Exchange exchange) {
        List<Import> imports = exchange.getProperty(IMPORTS, List.class);
        Collection<String> refused = exchange.getVariable("importRefused", Collection.class);
        mappings.markAllSynced(imports.stream().map(Import::mapping)
                .filter(m -> refused == null || !refused.contains(m.recordId())).toList());
        // only now: should the statement fail, importFailed still has the page's new events to go one by one
        exchange.removeProperty(IMPORTS);
    }

    /** The batch failed and was rolled back: its events go one by one, where one that cannot be applied is skipped. */
    @SuppressWarnings("unchecked")
    public void importFailed(Exchange exchange) {
        List<Import> imports = exchange.getProperty(IMPORTS, List.class);
        exchange.removeProperty(IMPORTS);
        if (imports == null) {
            imports = List.of();
        }
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        LOG.warn("Reconciliation {}: batch import of {} events failed ({}); importing them one by one",
                report(exchange).runId, imports.size(), error == null ? "?" : error.toString());
        // the body may be whatever the failed step left: the repairs left for one by one are in the property
        List<Map<String, Object>> rest = exchange.getProperty(ONE_BY_ONE, List.class);
        imports.forEach(i -> rest.add(asApply(i.repair())));
        exchange.getMessage().setBody(rest);
    }

    /** One new event of a batch import: its repair, its record, its mapping row. */
    private record Import(Map<String, Object> repair, Map<String, Object> record, SyncMappings.Imported mapping) {
    }

    private static Map<String, Object> asApply(Map<String, Object> repair) {
        Map<String, Object> apply = new LinkedHashMap<>(repair);
        apply.put("action", "apply");
        return apply;
    }

    /**
     * Prepares one repair for the route: the header and variables of the live-sync routes (the record id; the repair
     * and the root of its idempotency keys) and, for apply/delete, the event.
     */
    public void openRepair(Exchange exchange) {
        Message m = exchange.getMessage();
        Map<?, ?> repair = m.getBody(Map.class);
        ReconcileReport r = report(exchange);
        Map<?, ?> event = (Map<?, ?>) repair.get("event");
        exchange.setVariable(REPAIR, repair.get("action"));
        m.setHeader(RECORD_ID, repair.get("record_id"));
        exchange.setVariable(NOTIFICATION_ID, "reconcile:" + r.runId + ":" + event.get("id"));
        if (repair.get("conflict") instanceof Map<?, ?> conflict) {
            jdbc.update("""
                    INSERT INTO sync_conflict (run_id, record_id, nylas_event_id, policy, winner, local_updated_at,
                                               remote_updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    r.runId, repair.get("record_id"), event.get("id"), conflict.get("policy"), conflict.get("winner"),
                    InboundPlanner.number(conflict.get("local_updated_at")),
                    InboundPlanner.number(conflict.get("remote_updated_at")));
        }
        m.setBody(new LinkedHashMap<>(event));
    }

    /** The application side wins: its state is pushed again (pending). */
    public void pushLocal(Exchange exchange) {
        mappings.pushAgain(exchange.getMessage().getHeader(RECORD_ID, String.class));
    }

    /** The calendar side wins: the pending application change is dropped so the event can be applied. */
    public void yieldToCalendar(Exchange exchange) {
        mappings.yieldToCalendar(exchange.getMessage().getHeader(RECORD_ID, String.class));
    }

    /** The event is gone from the calendar and the policy is to re-create it from the local record. */
    public void recreate(Exchange exchange) {
        mappings.recreate(exchange.getMessage().getHeader(RECORD_ID, String.class));
    }

    public void finish(Exchange exchange) {
        ReconcileReport r = report(exchange);
        runs.finish(r.runId, r);
        LOG.info("Reconciliation {} done: {} pages, {} events, {} created, {} updated, {} deleted, {} relinked,"
                        + " {} unchanged, {} conflicts, {} skipped", r.runId, r.pages, r.eventsSeen, r.created,
                r.updated, r.deleted, r.relinked, r.unchanged, r.conflicts, r.skipped);
    }

    /**
     * A repair that failed: the event is reported in the run ({@code skipped}, with its error) and skipped; the run
     * goes on, and the next run tries it again.
     */
    public void repairFailed(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        ReconcileReport r = report(exchange);
        Object repair = exchange.getMessage().getBody();
        Object eventId = repair instanceof Map<?, ?> m && m.get("event") instanceof Map<?, ?> e ? e.get("id")
                : exchange.getMessage().getHeader(EVENT_ID);
        String message = error == null ? "unknown error" : error.getMessage() == null
                ? error.getClass().getSimpleName() : error.getMessage();
        r.skip(eventId, message);
        LOG.warn("Reconciliation {}: event {} could not be applied ({}); skipped, the next run tries it again",
                r.runId, eventId, message);
    }

    public void failed(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        ReconcileReport r = exchange.getProperty(REPORT, ReconcileReport.class);
        String runId = r != null ? r.runId : exchange.getVariable(RUN_ID, String.class);
        String message = error == null ? "unknown error" : error.getMessage() == null
                ? error.getClass().getSimpleName() : error.getMessage();
        runs.fail(runId, r, message);
        LOG.error("Reconciliation {} failed: {}", runId, message);
    }

    /** Whether an event's {@code when} overlaps [start, end) (Unix seconds; all-day dates at UTC midnight). */
    static boolean overlaps(Object when, long start, long end) {
        if (!(when instanceof Map<?, ?> w)) {
            return false;
        }
        long from;
        long to;
        if (w.get("start_time") != null || w.get("time") != null) {
            from = InboundPlanner.number(w.get("start_time") != null ? w.get("start_time") : w.get("time"));
            to = w.get("end_time") == null ? from : InboundPlanner.number(w.get("end_time"));
        } else {
            Object d = w.get("date") != null ? w.get("date") : w.get("start_date");
            if (d == null) {
                return false;
            }
            from = LocalDate.parse(d.toString()).atStartOfDay(ZoneOffset.UTC).toEpochSecond();
            Object e = w.get("end_date");
            to = (e == null ? LocalDate.parse(d.toString()).plusDays(1) : LocalDate.parse(e.toString()))
                    .atStartOfDay(ZoneOffset.UTC).toEpochSecond();
        }
        return from < end && to >= start;
    }

    private List<Map<String, Object>> mappings(String grantId, List<String> eventIds, List<String> recordIds) {
        return jdbc.query(connection -> {
            // two index lookups (unique (grant_id, nylas_event_id), primary key) rather than one OR, which scans
            var ps = connection.prepareStatement("""
                    WITH found AS (
                        SELECT internal_id FROM event_sync_map WHERE grant_id = ? AND nylas_event_id = ANY(?)
                        UNION
                        SELECT internal_id FROM event_sync_map WHERE internal_id = ANY(?) AND grant_id = ?)
                    SELECT m.internal_id, m.nylas_event_id, m.grant_id, m.content_hash, m.source, m.sync_state,
                           m.desired, m.remote_updated_at, m.create_attempts, extract(epoch FROM e.updated_at)::bigint AS local_updated_at
                      FROM found f JOIN event_sync_map m ON m.internal_id = f.internal_id
                      LEFT JOIN app_event e ON e.id = m.internal_id""");
            ps.setString(1, grantId);
            ps.setArray(2, connection.createArrayOf("text", eventIds.toArray()));
            ps.setArray(3, connection.createArrayOf("text", recordIds.toArray()));
            ps.setString(4, grantId);
            return ps;
        }, (rs, i) -> {
            Map<String, Object> row = new HashMap<>();
            for (String c : List.of("internal_id", "nylas_event_id", "grant_id", "content_hash", "source", "sync_state",
                    "desired")) {
                row.put(c, rs.getString(c));
            }
            row.put("remote_updated_at", rs.getObject("remote_updated_at"));
            row.put("create_attempts", rs.getObject("create_attempts"));
            row.put("local_updated_at", rs.getObject("local_updated_at"));
            return row;
        });
    }

    private List<String> queryIds(String sql, List<String> ids) {
        return jdbc.query(connection -> {
            var ps = connection.prepareStatement(sql);
            Array array = connection.createArrayOf("text", ids.toArray());
            ps.setArray(1, array);
            return ps;
        }, (rs, i) -> rs.getString(1));
    }

    private static Map<String, Object> repair(String action, Map<String, Object> event, String recordId) {
        Map<String, Object> repair = new LinkedHashMap<>();
        repair.put("action", action);
        repair.put("event", event);
        repair.put("record_id", recordId);
        return repair;
    }

    private static ReconcileReport report(Exchange exchange) {
        return exchange.getProperty(REPORT, ReconcileReport.class);
    }
}
