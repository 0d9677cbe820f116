package dev.calsync.simulator;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.calsync.simulator.ProviderQuirks.GoogleCancellation;
import dev.calsync.simulator.ProviderQuirks.RecurrenceStyle;
import dev.calsync.support.Signing;

/**
 * A stateful stand-in for the Nylas v3 Events API and its webhook delivery, on loopback. It behaves as
 * {@code shared/docs/nylas-api.md} describes (see docs/SIMULATOR.md): bearer auth, the response and error
 * envelopes, list paging and filters, create/update/delete semantics, signed webhooks for every change with retries,
 * and switchable faults and provider quirks. Tests drive it in-process; {@link #main} runs it as a server.
 */
public final class NylasSimulator implements AutoCloseable {

    static final Set<String> FILTERABLE_KEYS = Set.of("key1", "key2", "key3", "key4", "key5");
    static final Set<String> NESTED = Set.of("when", "metadata", "participants", "conferencing", "reminders");
    static final int MAX_LIMIT = 200;
    static final int DEFAULT_LIMIT = 50;
    /** Fields a PUT cannot change. */
    static final Set<String> FIXED = Set.of("id", "grant_id", "object", "created_at", "updated_at");
    /** Fields a PUT of one occurrence cannot change: it stays that occurrence of that series. */
    static final Set<String> OCCURRENCE_FIXED = Set.of("id", "grant_id", "object", "created_at", "updated_at",
            "master_event_id", "original_start_time", "recurrence");

    public final SimulatorFaults faults = new SimulatorFaults();
    public final ProviderQuirks quirks = new ProviderQuirks();

    private final ObjectMapper json = new ObjectMapper();
    private final HttpServer server;
    private final java.util.Queue<TimedRequest> requestLog = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final ExecutorService serverThreads;
    private final ExecutorService deliveryThreads = Executors.newCachedThreadPool();
    private final HttpClient webhookClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final String apiKey;
    private final Clock clock;

    /**
     * grant -> event id -> stored event (deleted ones are kept, with status "cancelled"): single events and series
     * masters. A series' unedited occurrences are generated from its master when asked for, never stored.
     */
    private final Map<String, Map<String, Map<String, Object>>> calendars = new LinkedHashMap<>();
    /** grant -> master id -> original start (Unix s) -> override: an edited or (Google) cancelled occurrence. */
    private final Map<String, Map<String, TreeMap<Long, Map<String, Object>>>> overrides = new HashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong notificationIds = new AtomicLong();
    private final Map<String, AtomicInteger> counters = new ConcurrentHashMap<>();
    private final List<Integer> scripted = Collections.synchronizedList(new ArrayList<>());
    private final List<Integer> scriptedDelays = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger lostToCome = new AtomicInteger();
    /** metadata.key1 of a create -> how long the provider takes before that create lands. */
    private final Map<String, Duration> slowCreates = new ConcurrentHashMap<>();

    private final List<String> webhookUrls = new CopyOnWriteArrayList<>();
    private final AtomicInteger nextUrl = new AtomicInteger();
    private volatile String webhookSecret = "";
    private volatile boolean webhooksPaused;
    private volatile Duration retryDelay = Duration.ofMillis(100);
    private volatile int maxAttempts = 3;
    private final List<String> held = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger callsInProgress = new AtomicInteger();
    private final List<Map<String, Object>> sent = new CopyOnWriteArrayList<>();

    public NylasSimulator(String apiKey) {
        this(apiKey, 0, Clock.systemUTC());
    }

    static {
        // answer without Nagle's delay: a large page otherwise waits ~40 ms for the client's delayed ACK
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    public NylasSimulator(String apiKey, int port, Clock clock) {
        this(apiKey, port, clock, 8);
    }

    /**
     * {@code serverThreads}: API calls answered at once (each holds its thread for {@code faults.latencyMillis}), so
     * at most {@code serverThreads / latency} calls per second; a benchmark with many concurrent callers raises it.
     */
    public NylasSimulator(String apiKey, int port, Clock clock, int serverThreads) {
        this.apiKey = apiKey;
        this.clock = clock;
        AtomicInteger threadIds = new AtomicInteger();
        this.serverThreads = Executors.newFixedThreadPool(serverThreads,
                r -> new Thread(r, "nylas-simulator-" + threadIds.incrementAndGet()));
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/v3/grants/", this::api);
        server.createContext("/_sim/", new SimulatorControl(this, json));
        server.setExecutor(this.serverThreads);
        server.start();
    }

    /** Standalone: {@code NylasSimulator [port] [api key] [webhook url] [webhook secret]}. */
    public static void main(String[] args) {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 8090;
        NylasSimulator sim = new NylasSimulator(args.length > 1 ? args[1] : "sim-api-key", port, Clock.systemUTC());
        if (args.length > 3) {
            sim.deliverWebhooksTo(args[3], args[2]);
        }
        System.out.println("Nylas simulator on " + sim.baseUrl());
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    // ---------------------------------------------------------------------------------------------------- set-up

    /** Sends a signed notification for every change to these URLs in turn (like instances behind a balancer). */
    public void deliverWebhooksTo(String secret, String... urls) {
        this.webhookSecret = secret;
        webhookUrls.clear();
        webhookUrls.addAll(List.of(urls));
    }

    public void webhookRetryDelay(Duration delay, int attempts) {
        this.retryDelay = delay;
        this.maxAttempts = attempts;
    }

    /** Holds every notification until {@link #releaseWebhooks(boolean)}. */
    public void pauseWebhooks() {
        webhooksPaused = true;
    }

    /** Delivers what was held, one after the other, in order or shuffled (with the faults' random). */
    public void releaseWebhooks(boolean shuffle) {
        List<String> batch = takeHeld();
        if (shuffle) {
            for (int i = batch.size() - 1; i > 0; i--) {
                Collections.swap(batch, i, faults.nextInt(i + 1));
            }
        }
        releaseInOrder(batch);
    }

    /** Delivers what was held newest first: a delete before its update before its create. */
    public void releaseWebhooksInReverse() {
        List<String> batch = takeHeld();
        Collections.reverse(batch);
        releaseInOrder(batch);
    }

    /** The order {@link #releaseWebhooks(ReleaseOrder, boolean)} delivers held notifications in. */
    public enum ReleaseOrder {
        /** As the changes were made. */
        AS_MADE,
        /** Newest first: a delete before its update before its create. */
        NEWEST_FIRST,
        /** Shuffled with the faults' random. */
        SHUFFLED
    }

    /**
     * Delivers what was held in this order, one after the other; {@code duplicated}: each one is delivered 2–3 times
     * as {@code faults.rateDuplicate} and {@code faults.concurrentDuplicates} say, as it would have been live (the
     * extra copies at once with the first, or right after it).
     */
    public void releaseWebhooks(ReleaseOrder order, boolean duplicated) {
        List<String> batch = takeHeld();
        switch (order) {
            case AS_MADE -> {
            }
            case NEWEST_FIRST -> Collections.reverse(batch);
            case SHUFFLED -> {
                for (int i = batch.size() - 1; i > 0; i--) {
                    Collections.swap(batch, i, faults.nextInt(i + 1));
                }
            }
        }
        if (!duplicated) {
            releaseInOrder(batch);
            return;
        }
        inFlight.incrementAndGet();
        deliveryThreads.submit(() -> {
            try {
                for (String body : batch) {
                    int copies = faults.roll(faults.rateDuplicate) ? 2 + faults.nextInt(2) : 1;
                    if (copies > 1) {
                        count("webhook duplicated");
                    }
                    inFlight.addAndGet(copies);
                    int inline = copies;
                    if (faults.concurrentDuplicates) {
                        for (; inline > 1; inline--) {
                            deliveryThreads.submit(() -> deliver(body, 0));
                        }
                    }
                    for (int i = 0; i < inline; i++) {
                        deliver(body, 0);
                    }
                }
            } finally {
                inFlight.decrementAndGet();
            }
        });
    }

    private List<String> takeHeld() {
        synchronized (held) {
            List<String> batch = new ArrayList<>(held);
            held.clear();
            webhooksPaused = false;
            return batch;
        }
    }

    private void releaseInOrder(List<String> batch) {
        inFlight.incrementAndGet();
        deliveryThreads.submit(() -> {
            try {
                for (String body : batch) {
                    inFlight.incrementAndGet();
                    deliver(body, 0);
                }
            } finally {
                inFlight.decrementAndGet();
            }
        });
    }

    /**
     * The next API calls answer these statuses (with the error envelope), whatever the faults say; {@code 0}: that
     * call is answered as usual (to fail a later one).
     */
    public void failNext(int... statuses) {
        for (int s : statuses) {
            scripted.add(s);
        }
    }

    /** The next API calls are answered only after these delays (ms), e.g. to outlast a client time-out. */
    public void delayNext(int... millis) {
        for (int m : millis) {
            scriptedDelays.add(m);
        }
    }

    /**
     * The next create carrying {@code metadata.key1 = key1} lands only after {@code landsAfter} (the provider is
     * slow; Nylas waits for it up to about 90 s): the event is created then, its {@code event.created} webhook
     * follows, and the answer goes out, to a client that may have given up long before.
     */
    public void slowNextCreateOf(String key1, Duration landsAfter) {
        slowCreates.put(key1, landsAfter);
    }

    /** The next {@code n} writes are applied and then answered with nothing (the connection just closes). */
    public void loseNextResponses(int n) {
        lostToCome.addAndGet(n);
    }

    /** Forgets every event, counter, scripted failure, fault and quirk (webhook targets stay). */
    public synchronized void reset() {
        calendars.clear();
        overrides.clear();
        requestLog.clear();
        counters.clear();
        scripted.clear();
        scriptedDelays.clear();
        slowCreates.clear();
        lostToCome.set(0);
        held.clear();
        sent.clear();
        webhooksPaused = false;
        faults.reset();
        quirks.reset();
    }

    // ----------------------------------------------------------------------------------- the user on the calendar

    /**
     * The calendar's user creates an event directly (no metadata of ours); a webhook follows. With a non-empty
     * {@code recurrence} it is a series master ({@link IllegalArgumentException} if the series is not valid).
     */
    public Map<String, Object> userCreates(String grantId, String calendarId, Map<String, Object> fields) {
        requireValid(Series.problem(fields));
        return create(grantId, calendarId, fields, false);
    }

    /**
     * The calendar's user edits an event (top-level merge, nested objects replaced); a webhook follows. An
     * occurrence id edits that occurrence, as {@link #userEditsOccurrence} does.
     */
    public Map<String, Object> userUpdates(String grantId, String eventId, Map<String, Object> fields) {
        requireValid(seriesProblemAfter(grantId, eventId, fields));
        return update(grantId, eventId, fields, false, null);
    }

    /**
     * The calendar's user edits an event several times within one second (a client saving as they type): every
     * edit carries the same whole-second {@code updated_at}, as Nylas reports it, and sends its own webhook.
     */
    public List<Map<String, Object>> userEditsWithinOneSecond(String grantId, String eventId,
                                                               List<Map<String, Object>> edits) {
        List<Map<String, Object>> versions = new ArrayList<>();
        Long second = null;
        for (Map<String, Object> edit : edits) {
            Map<String, Object> e = update(grantId, eventId, edit, false, second);
            if (e == null) {
                break;
            }
            second = ((Number) e.get("updated_at")).longValue();
            versions.add(e);
        }
        return versions;
    }

    /**
     * The calendar's user deletes an event; a webhook follows. A master's id deletes the whole series (one
     * {@code event.deleted}, for the master); an occurrence id cancels that occurrence.
     */
    public boolean userDeletes(String grantId, String eventId) {
        return delete(grantId, eventId);
    }

    /**
     * The user edits one occurrence of a series: its override is created or updated (merged like a PUT) and the
     * notification follows {@code quirks.recurrenceStyle}. Answers the override;
     * {@link IllegalArgumentException} when the series has no live occurrence originally at that time.
     */
    public Map<String, Object> userEditsOccurrence(String grantId, String masterId, long originalStartTime,
                                                   Map<String, Object> fields) {
        Map<String, Object> edited = update(grantId, occurrenceId(masterId, originalStartTime), fields, false, null);
        if (edited == null) {
            throw new IllegalArgumentException("no live occurrence " + occurrenceId(masterId, originalStartTime));
        }
        return edited;
    }

    /**
     * The user cancels one occurrence: Google style, an override with {@code status: cancelled}; Microsoft style,
     * an {@code EXDATE} on the master. {@link IllegalArgumentException} when there is no such live occurrence.
     */
    public void userCancelsOccurrence(String grantId, String masterId, long originalStartTime) {
        if (!delete(grantId, occurrenceId(masterId, originalStartTime))) {
            throw new IllegalArgumentException("no live occurrence " + occurrenceId(masterId, originalStartTime));
        }
    }

    /**
     * The user changes a series' recurrence ({@code RRULE:} / {@code EXDATE:} entries): overrides are kept or
     * dropped as the style says; {@code event.updated} of the master follows. Answers the master;
     * {@link IllegalArgumentException} when there is no such live series or the recurrence is not valid.
     */
    public Map<String, Object> userChangesRule(String grantId, String masterId, List<String> recurrence) {
        Map<String, Object> fields = new HashMap<>();
        fields.put("recurrence", recurrence);
        synchronized (this) {
            Map<String, Object> master = calendar(grantId).get(masterId);
            if (master == null || isDeleted(master) || !Series.isMaster(master)) {
                throw new IllegalArgumentException("no live series " + masterId);
            }
        }
        requireValid(seriesProblemAfter(grantId, masterId, fields));
        return update(grantId, masterId, fields, false, null);
    }

    private static void requireValid(String problem) {
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    // ------------------------------------------------------------------------------------------------- the grant

    /**
     * Nylas tells that a grant expired at {@code time} (Unix s): {@code grant.expired}, signed with that time. Sent
     * like every notification (held while paused, duplicated, delayed), but never dropped.
     */
    public void grantExpired(String grantId, long time) {
        Map<String, Object> grant = new LinkedHashMap<>();
        grant.put("grant_id", grantId);
        grant.put("code", 25009);
        notify("grant.expired", "/nylas/system", grant, time);
    }

    /**
     * Nylas tells that the user re-authenticated a grant at {@code time} (Unix s): {@code grant.updated} with
     * {@code reauthentication_flag: true}, signed with that time. Sent like {@link #grantExpired}.
     */
    public void grantReauthenticated(String grantId, long time) {
        Map<String, Object> grant = new LinkedHashMap<>();
        grant.put("grant_id", grantId);
        grant.put("provider", "google");
        grant.put("reauthentication_flag", true);
        notify("grant.updated", "/nylas/system", grant, time);
    }

    /**
     * Puts an event on the calendar without a webhook (state a test starts from). One carrying
     * {@code master_event_id} and {@code original_start_time} is put as that occurrence's override (its id
     * defaults to the occurrence id).
     */
    public synchronized void putEvent(Map<String, Object> event) {
        Map<String, Object> copy = new LinkedHashMap<>(event);
        String grantId = (String) copy.get("grant_id");
        if (copy.get("master_event_id") instanceof String masterId
                && copy.get("original_start_time") instanceof Number originalStart) {
            copy.putIfAbsent("id", occurrenceId(masterId, originalStart.longValue()));
            overridesOf(grantId, masterId).put(originalStart.longValue(), copy);
            return;
        }
        calendar(grantId).put((String) copy.get("id"), copy);
    }

    // ---------------------------------------------------------------------------------------------- inspection

    /**
     * A copy of an event, deleted ones included; null if never created. An occurrence id gives that occurrence
     * (its override if edited, a cancelled one included); null for an id of no occurrence, an EXDATE'd one, or one
     * of a deleted series.
     */
    public synchronized Map<String, Object> event(String grantId, String eventId) {
        Map<String, Object> e = calendar(grantId).get(eventId);
        if (e == null) {
            OccurrenceRef ref = occurrenceRef(grantId, eventId);
            e = ref == null ? null : current(ref);
        }
        return e == null ? null : deepCopy(e);
    }

    /**
     * A series' live occurrences overlapping [from, to) (Unix s), by start: generated ones and overrides (edits
     * applied), without cancelled or EXDATE'd ones; empty for no live series.
     */
    public synchronized List<Map<String, Object>> occurrences(String grantId, String masterId, long from, long to) {
        Map<String, Object> master = calendar(grantId).get(masterId);
        Series series = master == null || isDeleted(master) ? null : seriesOf(master);
        if (series == null) {
            return List.of();
        }
        return occurrencesIn(grantId, master, series, from, to, false, false).stream().map(this::deepCopy).toList();
    }

    /**
     * A series' overrides by original start (Unix s): its edited occurrences and, Google style, its cancelled ones
     * ({@code status: cancelled}); empty for no live series. Microsoft-style cancellations are {@code EXDATE}s on the
     * master, not overrides.
     */
    public synchronized Map<Long, Map<String, Object>> overrides(String grantId, String masterId) {
        Map<String, Object> master = calendar(grantId).get(masterId);
        if (master == null || isDeleted(master) || seriesOf(master) == null) {
            return Map.of();
        }
        Map<Long, Map<String, Object>> out = new TreeMap<>();
        overridesIfAny(grantId, masterId).forEach((start, override) -> out.put(start, deepCopy(override)));
        return out;
    }

    /** An occurrence's id: {@code <masterId>_<original start in UTC, yyyyMMdd'T'HHmmss'Z'>}. */
    public static String occurrenceId(String masterId, long originalStartTime) {
        return Series.occurrenceId(masterId, originalStartTime);
    }

    /** Live (not deleted) events of a grant's calendar. */
    public synchronized List<Map<String, Object>> liveEvents(String grantId, String calendarId) {
        return calendar(grantId).values().stream().filter(e -> !isDeleted(e))
                .filter(e -> calendarId == null || calendarId.equals(e.get("calendar_id"))).map(this::deepCopy)
                .toList();
    }

    /** How many events (deleted ones too, when asked) carry {@code metadata.key1 = value}. */
    public synchronized int countWithKey1(String grantId, String value, boolean includeDeleted) {
        return (int) calendar(grantId).values().stream().filter(e -> includeDeleted || !isDeleted(e))
                .filter(e -> e.get("metadata") instanceof Map<?, ?> m && value.equals(m.get("key1"))).count();
    }

    /** Every API request received since the last reset, as {@code "METHOD raw-path?raw-query"}, oldest first. */
    public List<String> requests() {
        return requestLog.stream().map(TimedRequest::line).toList();
    }

    /** Every API request received since the last reset, with the time it arrived, oldest first. */
    public List<TimedRequest> timedRequests() {
        return List.copyOf(requestLog);
    }

    /**
     * One API request: when it arrived (epoch ms, before the injected latency), its grant (null when the path has
     * none) and {@code "METHOD raw-path?raw-query"}.
     */
    public record TimedRequest(long atMillis, String grantId, String line) {
    }

    /** Calls answered, by {@code "METHOD status"} (e.g. {@code "POST 200"}), or lost ({@code "POST lost"}). */
    public int calls(String methodAndStatus) {
        AtomicInteger n = counters.get(methodAndStatus);
        return n == null ? 0 : n.get();
    }

    /** Every counter, for the control surface. */
    public Map<String, Integer> counters() {
        Map<String, Integer> out = new java.util.TreeMap<>();
        counters.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Every event of a grant, deleted ones included, for the control surface. */
    public synchronized List<Map<String, Object>> allEvents(String grantId) {
        return calendar(grantId).values().stream().map(this::deepCopy).toList();
    }

    /** Webhook deliveries attempted, answered, failed, dropped (by name: sent, ok, failed, dropped, duplicated). */
    public int webhookCount(String what) {
        return calls("webhook " + what);
    }

    /** Every notification body that was sent (all copies and attempts). */
    public List<Map<String, Object>> sentNotifications() {
        return List.copyOf(sent);
    }

    /** True when no delivery is in flight or waiting for a retry (held notifications do not count). */
    public boolean webhooksQuiet() {
        return inFlight.get() == 0;
    }

    /** True when no API call is being answered (a slow create still to land counts as one). */
    public boolean callsQuiet() {
        return callsInProgress.get() == 0;
    }

    // --------------------------------------------------------------------------------------------------- the API

    private void api(HttpExchange exchange) throws IOException {
        callsInProgress.incrementAndGet();
        try (exchange) {
            String method = exchange.getRequestMethod();
            String rawQuery = exchange.getRequestURI().getRawQuery();
            String rawPath = exchange.getRequestURI().getRawPath();
            String[] segments = rawPath.split("/");
            requestLog.add(new TimedRequest(clock.millis(), segments.length > 3 ? decode(segments[3]) : null,
                    method + " " + rawPath + (rawQuery == null ? "" : "?" + rawQuery)));
            if (faults.latencyMillis > 0) {
                sleep(faults.latencyMillis);
            }
            Integer delay = scriptedDelays.isEmpty() ? null : scriptedDelays.remove(0);
            if (delay != null) {
                sleep(delay);
            }
            if (!("Bearer " + apiKey).equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
                error(exchange, method, 401, "unauthorized", "Unauthorized");
                return;
            }
            Integer status = scripted.isEmpty() ? null : scripted.remove(0);
            if (status != null && status == 0) {
                status = null; // scripted to be answered as usual
            }
            if (status == null && faults.roll(faults.rate429)) {
                status = 429;
            }
            if (status == null && faults.roll(faults.rate5xx)) {
                status = List.of(500, 502, 503).get(faults.nextInt(3));
            }
            String[] grantPath = exchange.getRequestURI().getRawPath().split("/");
            if (status == null && grantPath.length > 3 && faults.failingGrants.contains(grantPath[3])) {
                status = 503;
            }
            if (status != null) {
                if (status == 429) {
                    exchange.getResponseHeaders().set("Retry-After", String.valueOf(faults.retryAfterSeconds));
                }
                error(exchange, method, status, status == 429 ? "rate_limit_error" : "api_error", "Injected failure");
                return;
            }
            String[] path = exchange.getRequestURI().getRawPath().split("/");
            Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
            if (path.length < 5 || !"events".equals(path[4])) {
                error(exchange, method, 404, "not_found_error", "No such endpoint");
                return;
            }
            String grantId = decode(path[3]);
            String eventId = path.length > 5 ? decode(path[5]) : null;
            if (query.get("calendar_id") == null || query.get("calendar_id").isBlank()) {
                error(exchange, method, 400, "invalid_request_error", "calendar_id is required");
                return;
            }
            switch (method + (eventId == null ? " collection" : " item")) {
                case "GET collection" -> list(exchange, grantId, query);
                case "GET item" -> get(exchange, grantId, eventId);
                case "POST collection" -> createCall(exchange, grantId, query);
                case "PUT item" -> updateCall(exchange, grantId, eventId);
                case "DELETE item" -> deleteCall(exchange, grantId, eventId);
                default -> error(exchange, method, 405, "invalid_request_error", "Method not allowed");
            }
        } catch (RuntimeException e) {
            error(exchange, exchange.getRequestMethod(), 500, "api_error", e.getClass().getSimpleName());
        } finally {
            callsInProgress.decrementAndGet();
        }
    }

    private void list(HttpExchange exchange, String grantId, Map<String, String> query) throws IOException {
        int limit;
        try {
            limit = query.containsKey("limit") ? Integer.parseInt(query.get("limit")) : DEFAULT_LIMIT;
        } catch (NumberFormatException e) {
            limit = -1;
        }
        if (limit < 1 || limit > MAX_LIMIT) {
            error(exchange, "GET", 400, "invalid_request_error", "limit must be between 1 and " + MAX_LIMIT);
            return;
        }
        String pair = query.get("metadata_pair");
        String pairKey = null;
        String pairValue = null;
        if (pair != null) {
            int colon = pair.indexOf(':');
            pairKey = colon < 0 ? pair : pair.substring(0, colon);
            pairValue = colon < 0 ? "" : pair.substring(colon + 1);
            if (!FILTERABLE_KEYS.contains(pairKey)) {
                error(exchange, "GET", 400, "invalid_request_error", "metadata_pair only filters key1..key5");
                return;
            }
        }
        String expand = query.getOrDefault("expand_recurring", "true"); // true when absent, as in the OpenAPI
        if (!expand.equals("true") && !expand.equals("false")) {
            error(exchange, "GET", 400, "invalid_request_error", "expand_recurring must be true or false");
            return;
        }
        String masterEventId = query.get("master_event_id");
        long now = clock.instant().getEpochSecond();
        long start = query.containsKey("start") ? Long.parseLong(query.get("start")) : now;
        long end = query.containsKey("end") ? Long.parseLong(query.get("end")) : now + 30L * 24 * 3600;
        boolean showCancelled = "true".equals(query.get("show_cancelled"));
        Long updatedAfter = pair == null && query.containsKey("updated_after")
                ? Long.parseLong(query.get("updated_after")) : null;
        int offset = query.containsKey("page_token") ? decodeToken(query.get("page_token")) : 0;
        String calendarId = query.get("calendar_id");
        List<Map<String, Object>> matching = new ArrayList<>();
        synchronized (this) {
            if (masterEventId != null && pairKey == null) {
                matching.addAll(seriesListing(grantId, calendarId, masterEventId, start, end, showCancelled));
            } else {
                for (Map<String, Object> e : calendar(grantId).values()) {
                    if (calendarId.equals(e.get("calendar_id"))) {
                        addListed(grantId, e, pairKey, pairValue, expand.equals("true"), start, end, showCancelled,
                                matching);
                    }
                }
            }
            if (updatedAfter != null) {
                matching.removeIf(e -> ((Number) e.get("updated_at")).longValue() <= updatedAfter);
            }
        }
        String page;
        synchronized (this) {
            // written while no call can change the events (cheaper than copying them and writing the copies)
            // (as UTF-8 bytes first: the writer escapes text UTF-8 cannot carry, such as lone surrogates)
            page = new String(json.writeValueAsBytes(matching.subList(Math.min(offset, matching.size()),
                    Math.min(offset + limit, matching.size()))), java.nio.charset.StandardCharsets.UTF_8);
        }
        Map<String, Object> body = envelope(new com.fasterxml.jackson.databind.util.RawValue(page));
        body.put("next_cursor", offset + limit < matching.size() ? encodeToken(offset + limit) : null);
        respond(exchange, "GET", 200, body);
    }

    private void get(HttpExchange exchange, String grantId, String eventId) throws IOException {
        Map<String, Object> e = event(grantId, eventId);
        if (e == null || isDeleted(e)) {
            error(exchange, "GET", 404, "not_found_error", "Event not found");
            return;
        }
        respond(exchange, "GET", 200, envelope(e));
    }

    /**
     * An event of the asked calendar in a listing. A metadata filter is combinable only with calendar_id, and finds
     * masters and single events only (no occurrences); otherwise a series is listed as {@link #addSeries} says.
     */
    private void addListed(String grantId, Map<String, Object> e, String pairKey, String pairValue, boolean expand,
                           long start, long end, boolean showCancelled, List<Map<String, Object>> out) {
        if (pairKey == null && Series.isMaster(e)) {
            addSeries(grantId, e, expand, start, end, showCancelled, out);
        } else if ((!isDeleted(e) || showCancelled)
                && (pairKey == null ? overlaps(e.get("when"), start, end)
                : e.get("metadata") instanceof Map<?, ?> m && pairValue.equals(m.get(pairKey)))) {
            out.add(e);
        }
    }

    /**
     * A series in a listing. Expanded: its occurrences in the window (the master itself is not listed). Not
     * expanded: the master if the series' span overlaps the window, and its overrides in the window. A deleted series
     * shows only as its cancelled master, unexpanded and with {@code show_cancelled}.
     */
    private void addSeries(String grantId, Map<String, Object> master, boolean expand, long start, long end,
                           boolean showCancelled, List<Map<String, Object>> out) {
        Series series = seriesOf(master);
        if (series == null) {
            return; // a master put in with a rule that cannot be read: nothing a provider would list
        }
        if (isDeleted(master)) {
            if (!expand && showCancelled && series.spanOverlaps(start, end)) {
                out.add(master);
            }
            return;
        }
        if (expand) {
            out.addAll(occurrencesIn(grantId, master, series, start, end, showCancelled, false));
            return;
        }
        if (series.spanOverlaps(start, end)) {
            out.add(master);
        }
        for (Map<String, Object> o : overridesIfAny(grantId, (String) master.get("id")).values()) {
            if ((showCancelled || !isDeleted(o)) && overlaps(o.get("when"), start, end)) {
                out.add(o);
            }
        }
    }

    /** {@code master_event_id=<id>}: that series' occurrences in the window (Google: unchanged ones first). */
    private List<Map<String, Object>> seriesListing(String grantId, String calendarId, String masterId, long start,
                                                    long end, boolean showCancelled) {
        Map<String, Object> master = calendar(grantId).get(masterId);
        if (master == null || isDeleted(master) || !calendarId.equals(master.get("calendar_id"))) {
            return List.of();
        }
        Series series = seriesOf(master);
        return series == null ? List.of() : occurrencesIn(grantId, master, series, start, end, showCancelled,
                quirks.recurrenceStyle == RecurrenceStyle.GOOGLE);
    }

    /**
     * A series' occurrences overlapping [from, to): unedited ones generated from the master, overrides by their own
     * (possibly moved) time, cancelled ones only {@code withCancelled}. By start, or {@code modifiedLast}: unedited
     * ones by start, then the overrides by start (as Google lists one series). Not copies: write or copy them under
     * the lock.
     */
    private List<Map<String, Object>> occurrencesIn(String grantId, Map<String, Object> master, Series series,
                                                    long from, long to, boolean withCancelled, boolean modifiedLast) {
        Map<Long, Map<String, Object>> edited = overridesIfAny(grantId, (String) master.get("id"));
        List<Map<String, Object>> unchanged = new ArrayList<>();
        for (long originalStart : series.startsOverlapping(from, to)) {
            if (!edited.containsKey(originalStart)) {
                unchanged.add(series.occurrence(master, originalStart));
            }
        }
        List<Map<String, Object>> modified = new ArrayList<>();
        for (Map<String, Object> o : edited.values()) {
            if ((withCancelled || !isDeleted(o)) && overlaps(o.get("when"), from, to)) {
                modified.add(o);
            }
        }
        java.util.Comparator<Map<String, Object>> byStart = java.util.Comparator.comparingLong(NylasSimulator::startOf);
        if (modifiedLast) {
            unchanged.sort(byStart);
            modified.sort(byStart);
            unchanged.addAll(modified);
            return unchanged;
        }
        unchanged.addAll(modified);
        unchanged.sort(byStart);
        return unchanged;
    }

    /** Where an occurrence sorts: its start, or its original start if it was moved to another kind of time. */
    private static long startOf(Map<String, Object> occurrence) {
        return occurrence.get("when") instanceof Map<?, ?> w && w.get("start_time") instanceof Number n
                ? n.longValue() : ((Number) occurrence.get("original_start_time")).longValue();
    }

    private void createCall(HttpExchange exchange, String grantId, Map<String, String> query) throws IOException {
        Map<String, Object> fields = readBody(exchange);
        String invalid = validate(fields, true);
        if (invalid == null) {
            invalid = Series.problem(fields);
        }
        if (invalid != null) {
            error(exchange, "POST", 400, "invalid_request_error", invalid);
            return;
        }
        if (fields.get("metadata") instanceof Map<?, ?> metadata && metadata.get("key1") instanceof String key1) {
            Duration slow = slowCreates.remove(key1);
            if (slow != null) {
                sleep(slow.toMillis()); // the client's time-out does not stop the provider
            }
        }
        Map<String, Object> created = create(grantId, query.get("calendar_id"), fields, true);

        answerWrite(exchange, "POST", envelope(created));
    }

    private void updateCall(HttpExchange exchange, String grantId, String eventId) throws IOException {
        Map<String, Object> fields = readBody(exchange);
        String invalid = validate(fields, false);
        if (invalid == null) {
            invalid = seriesProblemAfter(grantId, eventId, fields);
        }
        if (invalid != null) {
            error(exchange, "PUT", 400, "invalid_request_error", invalid);
            return;
        }
        Map<String, Object> existing = event(grantId, eventId);
        if (existing == null || isDeleted(existing)) {
            error(exchange, "PUT", 404, "not_found_error", "Event not found");
            return;
        }
        if (Boolean.TRUE.equals(existing.get("read_only"))) { // an occurrence carries its master's
            error(exchange, "PUT", 400, "invalid_request_error", "Event is read-only");
            return;
        }
        answerWrite(exchange, "PUT", envelope(update(grantId, eventId, fields, true, null)));
    }

    private void deleteCall(HttpExchange exchange, String grantId, String eventId) throws IOException {
        if (!delete(grantId, eventId)) {
            error(exchange, "DELETE", 404, "not_found_error", "Event not found");
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("request_id", requestId());
        answerWrite(exchange, "DELETE", body);
    }

    /** A write is applied before this point; a lost response closes the connection without an answer. */
    private void answerWrite(HttpExchange exchange, String method, Map<String, Object> body) throws IOException {
        if (lostToCome.getAndUpdate(n -> Math.max(0, n - 1)) > 0 || faults.roll(faults.rateLostResponse)) {
            count(method + " lost");
            return; // the exchange is closed by the caller before any status line: the connection just ends
        }
        respond(exchange, method, 200, body);
    }

    static String validate(Map<String, Object> fields, boolean creating) {
        if (creating && !(fields.get("when") instanceof Map)) {
            return "when is required";
        }
        if (fields.get("title") instanceof String t && t.length() > 1024) {
            return "title is longer than 1024 characters";
        }
        if (fields.containsKey("metadata")) {
            if (!(fields.get("metadata") instanceof Map<?, ?> metadata)) {
                return "metadata must be an object of strings";
            }
            if (metadata.size() > 50) {
                return "metadata has more than 50 pairs";
            }
            for (Map.Entry<?, ?> e : metadata.entrySet()) {
                if (e.getKey().toString().length() > 40) {
                    return "metadata key longer than 40 characters";
                }
                if (!(e.getValue() instanceof String v) || v.length() > 500) {
                    return "metadata values must be strings of at most 500 characters";
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------- state changes

    private Map<String, Object> create(String grantId, String calendarId, Map<String, Object> fields, boolean api) {
        Map<String, Object> e;
        synchronized (this) {
            e = new LinkedHashMap<>(deepCopy(fields));
            e.put("id", "sim-evt-" + ids.incrementAndGet());
            e.put("object", "event");
            e.put("grant_id", grantId);
            e.put("calendar_id", calendarId);
            e.put("status", "confirmed");
            long now = clock.instant().getEpochSecond();
            e.put("created_at", now);
            e.put("updated_at", now);
            if (api) {
                quirks.apply(e);
            }
            storeRule(e);
            calendar(grantId).put((String) e.get("id"), e);
            e = deepCopy(e);
        }
        notify("event.created", e); // a series too: one notification, for its master
        return e;
    }

    /**
     * {@code sameSecond}: the {@code updated_at} of an edit made within that second, else null (one more second).
     * An id that is not a stored event's but an occurrence's edits that occurrence.
     */
    private Map<String, Object> update(String grantId, String eventId, Map<String, Object> fields, boolean api,
                                       Long sameSecond) {
        if (!isStored(grantId, eventId)) {
            return editOccurrence(grantId, eventId, fields, api, sameSecond);
        }
        Map<String, Object> e;
        boolean metadataOnly;
        synchronized (this) {
            e = calendar(grantId).get(eventId);
            if (e == null || isDeleted(e)) {
                return null;
            }
            Map<String, Object> before = deepCopy(e);
            merge(e, fields, FIXED); // top-level merge; nested objects replaced whole
            if (api) {
                quirks.apply(e);
            }
            storeRule(e);
            keepOverridesOfChangedSeries(grantId, before, e);
            e.put("updated_at", nextUpdatedAt(before, sameSecond));
            metadataOnly = onlyMetadataChanged(before, e);
            e = deepCopy(e);
        }
        if (!metadataOnly) {
            notify("event.updated", e); // Nylas sends nothing for a metadata-only change
        }
        return e;
    }

    /** A master's id deletes the whole series; an occurrence's id cancels that occurrence. */
    private boolean delete(String grantId, String eventId) {
        if (!isStored(grantId, eventId)) {
            return cancelOccurrence(grantId, eventId);
        }
        Map<String, Object> minimal = new LinkedHashMap<>();
        synchronized (this) {
            Map<String, Object> e = calendar(grantId).get(eventId);
            if (e == null || isDeleted(e)) {
                return false;
            }
            e.put("status", "cancelled");
            e.put("updated_at", nextUpdatedAt(e, null));
            dropOverrides(grantId, eventId); // a deleted series has no occurrences left
            minimal.put("id", eventId);
            minimal.put("object", "event");
            minimal.put("grant_id", grantId);
            minimal.put("calendar_id", e.get("calendar_id"));
            if (e.get("metadata") != null) {
                minimal.put("metadata", deepCopy(e).get("metadata"));
            }
        }
        notify("event.deleted", minimal);
        return true;
    }

    private void merge(Map<String, Object> target, Map<String, Object> fields, Set<String> fixed) {
        for (Map.Entry<String, Object> field : deepCopy(fields).entrySet()) {
            if (!fixed.contains(field.getKey())) {
                target.put(field.getKey(), field.getValue());
            }
        }
    }

    /** One second after the last change (so tests can order changes), or that same second when asked. */
    private long nextUpdatedAt(Map<String, Object> before, Long sameSecond) {
        long previous = ((Number) before.get("updated_at")).longValue();
        return sameSecond != null ? Math.max(sameSecond, previous)
                : Math.max(clock.instant().getEpochSecond(), previous + 1);
    }

    /** Whether a change touched {@code metadata} alone (Nylas then sends nothing). */
    private boolean onlyMetadataChanged(Map<String, Object> before, Map<String, Object> after) {
        Map<String, Object> withoutMetadata = deepCopy(after);
        withoutMetadata.put("metadata", before.get("metadata"));
        withoutMetadata.put("updated_at", before.get("updated_at"));
        return withoutMetadata.equals(before);
    }

    // ---------------------------------------------------------------------------------------- recurring series

    /** An occurrence an id names: a live series whose rule makes an occurrence at that original start. */
    private record OccurrenceRef(String grantId, String masterId, Map<String, Object> master, Series series,
                                 long originalStart) {
    }

    private synchronized boolean isStored(String grantId, String eventId) {
        return calendar(grantId).containsKey(eventId);
    }

    /** The master of a series, read; null when it is not a series or its rule cannot be read (put in as such). */
    private static Series seriesOf(Map<String, Object> master) {
        if (!Series.isMaster(master)) {
            return null;
        }
        try {
            return Series.of(master);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The occurrence an id names, EXDATE'd or cancelled ones included; null for no occurrence of a live series. */
    private OccurrenceRef occurrenceRef(String grantId, String id) {
        String masterId = Series.masterIdOf(id);
        Map<String, Object> master = masterId == null ? null : calendar(grantId).get(masterId);
        Series series = master == null || isDeleted(master) ? null : seriesOf(master);
        long originalStart = series == null ? 0 : Series.originalStartOf(id);
        return series != null && series.ruleOccursAt(originalStart)
                ? new OccurrenceRef(grantId, masterId, master, series, originalStart) : null;
    }

    /** An occurrence as it is now: its override (maybe cancelled), else generated; null when EXDATE'd. */
    private Map<String, Object> current(OccurrenceRef ref) {
        Map<String, Object> override = overridesIfAny(ref.grantId(), ref.masterId()).get(ref.originalStart());
        if (override != null) {
            return override;
        }
        return ref.series().occursAt(ref.originalStart()) ? ref.series().occurrence(ref.master(), ref.originalStart())
                : null;
    }

    private TreeMap<Long, Map<String, Object>> overridesOf(String grantId, String masterId) {
        return overrides.computeIfAbsent(grantId, g -> new HashMap<>()).computeIfAbsent(masterId, m -> new TreeMap<>());
    }

    private void dropOverrides(String grantId, String masterId) {
        Map<String, TreeMap<Long, Map<String, Object>>> ofGrant = overrides.get(grantId);
        if (ofGrant != null) {
            ofGrant.remove(masterId);
        }
    }

    private Map<Long, Map<String, Object>> overridesIfAny(String grantId, String masterId) {
        Map<String, TreeMap<Long, Map<String, Object>>> ofGrant = overrides.get(grantId);
        TreeMap<Long, Map<String, Object>> ofMaster = ofGrant == null ? null : ofGrant.get(masterId);
        return ofMaster == null ? Map.of() : ofMaster;
    }

    /** What a PUT of these fields would make wrong with a series (a {@code 400}), or null. */
    private synchronized String seriesProblemAfter(String grantId, String eventId, Map<String, Object> fields) {
        Map<String, Object> stored = calendar(grantId).get(eventId);
        if (stored == null) {
            // an occurrence, or nothing at all (a 404 then)
            return Series.isMaster(fields) ? "an occurrence cannot have a recurrence of its own" : null;
        }
        Map<String, Object> merged = new LinkedHashMap<>(stored);
        merged.putAll(fields);
        return Series.problem(merged);
    }

    /** A master's rule as its provider stores it: Microsoft respells {@code UNTIL} (same occurrences). */
    private void storeRule(Map<String, Object> master) {
        Series series = quirks.recurrenceStyle == RecurrenceStyle.MICROSOFT ? seriesOf(master) : null;
        if (series != null) {
            master.put("recurrence", series.respelledUntil());
        }
    }

    /**
     * After a master changed: overrides of occurrences the series no longer has are dropped. When the rule itself
     * changed (its occurrences start at other times, the UNTIL text aside), Microsoft drops every override and
     * Google keeps those still in the new rule. A series that is no longer one keeps none.
     */
    private void keepOverridesOfChangedSeries(String grantId, Map<String, Object> before, Map<String, Object> after) {
        String masterId = (String) after.get("id");
        Map<Long, Map<String, Object>> edited = overridesIfAny(grantId, masterId);
        if (edited.isEmpty()) {
            return;
        }
        Series now = seriesOf(after);
        if (now == null || quirks.recurrenceStyle == RecurrenceStyle.MICROSOFT && ruleChanged(before, after, now)) {
            dropOverrides(grantId, masterId);
            return;
        }
        edited.keySet().removeIf(originalStart -> !now.occursAt(originalStart));
    }

    private static boolean ruleChanged(Map<String, Object> before, Map<String, Object> after, Series now) {
        Series then = seriesOf(before);
        if (then == null) {
            return true;
        }
        boolean sameText = before.get("recurrence").equals(after.get("recurrence"))
                && then.start == now.start && java.util.Objects.equals(zoneOf(before), zoneOf(after));
        return !sameText && !then.sameRuleAs(now);
    }

    private static Object zoneOf(Map<String, Object> event) {
        return event.get("when") instanceof Map<?, ?> w ? w.get("start_timezone") : null;
    }

    /**
     * Edits one occurrence: its override is created from what it shows now, or updated; the master stays as it is.
     * Google notifies the master listing the occurrence in {@code occurrences}; Microsoft the master alone.
     */
    private Map<String, Object> editOccurrence(String grantId, String occurrenceId, Map<String, Object> fields,
                                               boolean api, Long sameSecond) {
        Map<String, Object> override;
        Map<String, Object> master;
        boolean metadataOnly;
        synchronized (this) {
            OccurrenceRef ref = occurrenceRef(grantId, occurrenceId);
            Map<String, Object> before = ref == null ? null : current(ref);
            if (before == null || isDeleted(before)) {
                return null;
            }
            before = deepCopy(before);
            override = deepCopy(before);
            merge(override, fields, OCCURRENCE_FIXED);
            if (api) {
                quirks.apply(override);
            }
            override.put("updated_at", nextUpdatedAt(before, sameSecond));
            metadataOnly = onlyMetadataChanged(before, override);
            overridesOf(grantId, ref.masterId()).put(ref.originalStart(), override);
            override = deepCopy(override);
            master = deepCopy(ref.master());
        }
        if (!metadataOnly) {
            if (quirks.recurrenceStyle == RecurrenceStyle.GOOGLE) {
                master.put("occurrences", List.of(occurrenceId));
            }
            notify("event.updated", master);
        }
        return override;
    }

    /**
     * Cancels one occurrence. Google: it becomes an override with {@code status: cancelled}, notified as
     * {@code quirks.googleCancellation} says. Microsoft: the master gets an {@code EXDATE} for it (its
     * {@code updated_at} moves), any override of it is dropped, and the master is notified.
     */
    private boolean cancelOccurrence(String grantId, String occurrenceId) {
        RecurrenceStyle style = quirks.recurrenceStyle;
        Map<String, Object> master;
        synchronized (this) {
            OccurrenceRef ref = occurrenceRef(grantId, occurrenceId);
            Map<String, Object> current = ref == null ? null : current(ref);
            if (current == null || isDeleted(current)) {
                return false;
            }
            if (style == RecurrenceStyle.GOOGLE) {
                Map<String, Object> cancelled = deepCopy(current);
                cancelled.put("status", "cancelled");
                cancelled.put("updated_at", nextUpdatedAt(current, null));
                overridesOf(grantId, ref.masterId()).put(ref.originalStart(), cancelled);
            } else {
                ref.master().put("recurrence", ref.series().withExdate(ref.originalStart()));
                ref.master().put("updated_at", nextUpdatedAt(ref.master(), null));
                overridesOf(grantId, ref.masterId()).remove(ref.originalStart());
            }
            master = deepCopy(ref.master());
        }
        if (style == RecurrenceStyle.MICROSOFT) {
            notify("event.updated", master);
            return true;
        }
        GoogleCancellation how = quirks.googleCancellation;
        if (how != GoogleCancellation.DELETED) {
            Map<String, Object> updated = new LinkedHashMap<>(master);
            updated.put("cancelled_occurrences", List.of(occurrenceId));
            notify("event.updated", updated);
        }
        if (how != GoogleCancellation.UPDATED) {
            Map<String, Object> minimal = new LinkedHashMap<>();
            minimal.put("id", occurrenceId);
            minimal.put("object", "event");
            minimal.put("grant_id", grantId);
            minimal.put("calendar_id", master.get("calendar_id"));
            minimal.put("master_event_id", master.get("id"));
            notify("event.deleted", minimal);
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------------- webhooks

    private void notify(String type, Map<String, Object> object) {
        notify(type, "/google/events/realtime", object, clock.instant().getEpochSecond());
    }

    private void notify(String type, String source, Map<String, Object> object, long time) {
        if (webhookUrls.isEmpty()) {
            return;
        }
        Map<String, Object> n = new LinkedHashMap<>();
        n.put("specversion", "1.0");
        n.put("type", type);
        n.put("source", source);
        n.put("id", "sim-ntf-" + notificationIds.incrementAndGet());
        n.put("time", time);
        n.put("webhook_delivery_attempt", 1);
        n.put("data", Map.of("application_id", "sim-app", "object", object));
        String body;
        try {
            body = escapeUnpairedSurrogates(json.writeValueAsString(n));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        synchronized (held) {
            if (webhooksPaused) {
                held.add(body);
                return;
            }
        }
        // a lost event notification is what reconciliation repairs; nothing would repair a lost grant notification
        dispatch(body, type.startsWith("event."));
    }

    /**
     * Writes each unpaired surrogate as a JSON escape ({@code \\ud800}), as Nylas sends one: the body stays valid
     * UTF-8 (Java would encode such a char as {@code ?}) and still decodes to that char. Valid characters, surrogate
     * pairs included, are sent as they are; Jackson already escapes NUL and the other control characters.
     */
    static String escapeUnpairedSurrogates(String json) {
        StringBuilder out = null;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < json.length()
                    && Character.isLowSurrogate(json.charAt(i + 1));
            if (paired) {
                if (out != null) {
                    out.append(c).append(json.charAt(i + 1));
                }
                i++;
            } else if (Character.isSurrogate(c)) {
                if (out == null) {
                    out = new StringBuilder(json.length() + 16).append(json, 0, i);
                }
                out.append(String.format("\\u%04x", (int) c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? json : out.toString();
    }

    private void dispatch(String body, boolean droppable) {
        if (droppable && faults.roll(faults.rateDrop)) {
            count("webhook dropped");
            return;
        }
        int copies = faults.roll(faults.rateDuplicate) ? 2 + faults.nextInt(2) : 1;
        if (copies > 1) {
            count("webhook duplicated");
        }
        int delay = faults.nextInt(faults.maxDeliveryDelayMillis + 1);
        boolean together = faults.concurrentDuplicates;
        inFlight.addAndGet(copies);
        if (together) {
            for (int i = 0; i < copies; i++) {
                deliveryThreads.submit(() -> deliver(body, delay));
            }
        } else {
            deliveryThreads.submit(() -> {
                for (int i = 0; i < copies; i++) {
                    deliver(body, i == 0 ? delay : 0);
                }
            });
        }
    }

    /** Up to {@code maxAttempts} attempts, each to the next URL in turn, until one answers 200. */
    private void deliver(String body, int delayMillis) {
        try {
            sleep(delayMillis);
            for (int attempt = 1; attempt <= maxAttempts; attempt++) {
                String signed = attempt == 1 ? body
                        : body.replace("\"webhook_delivery_attempt\":1", "\"webhook_delivery_attempt\":" + attempt);
                List<String> urls = List.copyOf(webhookUrls);
                if (urls.isEmpty()) {
                    return; // delivery was switched off meanwhile
                }
                String url = urls.get(Math.floorMod(nextUrl.getAndIncrement(), urls.size()));
                count("webhook sent");
                try {
                    sent.add(json.readValue(signed, new TypeReference<Map<String, Object>>() {
                    }));
                    HttpResponse<Void> response = webhookClient.send(HttpRequest.newBuilder(URI.create(url))
                            .timeout(Duration.ofSeconds(10))
                            .header("Content-Type", "application/json")
                            .header("X-Nylas-Signature", Signing.sign(signed.getBytes(StandardCharsets.UTF_8),
                                    webhookSecret))
                            .POST(HttpRequest.BodyPublishers.ofString(signed)).build(),
                            HttpResponse.BodyHandlers.discarding());
                    if (response.statusCode() == 200) {
                        count("webhook ok");
                        return;
                    }
                } catch (IOException e) {
                    // a time-out or refused connection counts as a failed attempt
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                count("webhook failed");
                sleep(retryDelay.toMillis());
            }
        } finally {
            inFlight.decrementAndGet();
        }
    }

    // -------------------------------------------------------------------------------------------------- helpers

    private Map<String, Map<String, Object>> calendar(String grantId) {
        return calendars.computeIfAbsent(grantId, g -> new LinkedHashMap<>());
    }

    static boolean isDeleted(Map<String, Object> e) {
        return "cancelled".equals(e.get("status"));
    }

    /**
     * Whether an event's time overlaps [start, end) (Unix seconds; all-day dates at UTC midnight). Written here
     * again on purpose rather than shared with the product's reconciler: the stand-in must not inherit the code it
     * is there to check.
     */
    static boolean overlaps(Object when, long start, long end) {
        if (!(when instanceof Map<?, ?> w)) {
            return false;
        }
        long from;
        long to;
        if (w.get("start_time") != null) {
            from = ((Number) w.get("start_time")).longValue();
            to = w.get("end_time") == null ? from : ((Number) w.get("end_time")).longValue();
        } else if (w.get("time") != null) {
            from = ((Number) w.get("time")).longValue();
            to = from;
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

    private Map<String, Object> envelope(Object data) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("request_id", requestId());
        body.put("data", data);
        return body;
    }

    private String requestId() {
        return "sim-req-" + Instant.now(clock).toEpochMilli() + "-" + ids.get();
    }

    private void error(HttpExchange exchange, String method, int status, String type, String message)
            throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("request_id", requestId());
        body.put("error", Map.of("type", type, "message", message));
        respond(exchange, method, status, body);
    }

    private void respond(HttpExchange exchange, String method, int status, Object body) throws IOException {
        count(method + " " + status);
        byte[] bytes = json.writeValueAsBytes(body);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private Map<String, Object> readBody(HttpExchange exchange) throws IOException {
        byte[] bytes = exchange.getRequestBody().readAllBytes();
        return bytes.length == 0 ? new HashMap<>() : json.readValue(bytes, new TypeReference<>() {
        });
    }

    void count(String key) {
        counters.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
    }

    private Map<String, Object> deepCopy(Map<String, Object> map) {
        return json.convertValue(map, new TypeReference<LinkedHashMap<String, Object>>() {
        });
    }

    static Map<String, String> query(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            out.put(decode(eq < 0 ? pair : pair.substring(0, eq)), eq < 0 ? "" : decode(pair.substring(eq + 1)));
        }
        return out;
    }

    static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static String encodeToken(int offset) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(("o:" + offset).getBytes(StandardCharsets.UTF_8));
    }

    private static int decodeToken(String token) {
        return Integer.parseInt(new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8).substring(2));
    }

    private static void sleep(long millis) {
        if (millis <= 0) {
            return;
        }
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        serverThreads.shutdownNow();
        deliveryThreads.shutdownNow();
    }
}
