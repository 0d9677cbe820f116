package dev.calsync.reconcile;

import org.apache.camel.Exchange;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The state of one run while it pages through a calendar: counters, the events seen, the planned changes. */
public final class ReconcileReport {

    final String runId;
    final String grantId;
    final String calendarId;
    final boolean dryRun;
    final String conflictPolicy;
    final String missingPolicy;
    final long windowStart;
    final long windowEnd;
    final java.sql.Timestamp startedAt = java.sql.Timestamp.from(java.time.Instant.now());

    String pageToken;
    boolean morePages = true;
    /** The next page's GET, started while the current page is applied ({@code Reconciler.prefetchNextPage}). */
    java.util.concurrent.CompletableFuture<Exchange> nextPage;
    int pages;
    int eventsSeen;
    int created;
    int updated;
    int deleted;
    int relinked;
    int unchanged;
    int conflicts;
    int pushed;
    /** Events that could not be applied (reported, skipped); the first few errors are kept. */
    int skipped;
    final List<Map<String, Object>> skippedErrors = new ArrayList<>();
    final Set<String> seen = new HashSet<>();
    final List<Map<String, Object>> planned = new ArrayList<>();

    static final int SKIPPED_ERRORS_KEPT = 20;

    void skip(Object eventId, String error) {
        skipped++;
        if (skippedErrors.size() < SKIPPED_ERRORS_KEPT) {
            Map<String, Object> e = new java.util.LinkedHashMap<>();
            e.put("event_id", eventId);
            e.put("error", error);
            skippedErrors.add(e);
        }
    }

    String skippedJson(com.fasterxml.jackson.databind.ObjectMapper json) {
        try {
            return json.writeValueAsString(skippedErrors);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    ReconcileReport(String runId, String grantId, String calendarId, boolean dryRun, String conflictPolicy,
                    String missingPolicy, long windowStart, long windowEnd) {
        this.runId = runId;
        this.grantId = grantId;
        this.calendarId = calendarId;
        this.dryRun = dryRun;
        this.conflictPolicy = conflictPolicy;
        this.missingPolicy = missingPolicy;
        this.windowStart = windowStart;
        this.windowEnd = windowEnd;
    }

    /** Whether the listing has another page (read by the calsync-reconcile-run loop). */
    /** Whether the next page was already asked for (the route takes it instead of asking again). */
    public boolean getPrefetched() {
        return nextPage != null;
    }

    public boolean getMorePages() {
        return morePages;
    }

    /** Whether this run only plans (read by the calsync-reconcile-run route). */
    public boolean getDryRun() {
        return dryRun;
    }

    void plan(String action, String recordId, String eventId) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("action", action);
        p.put("record_id", recordId);
        p.put("nylas_event_id", eventId);
        planned.add(p);
    }

    String plannedJson(ObjectMapper json) {
        try {
            return json.writeValueAsString(dryRun ? planned : List.of());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
