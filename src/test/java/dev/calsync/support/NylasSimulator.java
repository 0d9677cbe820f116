package dev.calsync.support;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A stateful stand-in for the Nylas v3 Events API on loopback: events per grant, bearer auth, Nylas' response and
 * error envelopes, and injectable failures. It grows with the features that call Nylas; today it serves
 * {@code GET /v3/grants/{grant}/events/{id}}.
 */
public final class NylasSimulator {

    private static NylasSimulator shared;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpServer server;
    private final String apiKey;
    private final Map<String, Map<String, Object>> events = new ConcurrentHashMap<>();
    private final ConcurrentLinkedDeque<Integer> injectedStatuses = new ConcurrentLinkedDeque<>();
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    private NylasSimulator(String apiKey) {
        this.apiKey = apiKey;
        try {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/v3/grants/", this::handle);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
    }

    public static synchronized NylasSimulator shared(String apiKey) {
        if (shared == null) {
            shared = new NylasSimulator(apiKey);
        }
        return shared;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public void reset() {
        events.clear();
        injectedStatuses.clear();
        calls.clear();
    }

    /** Puts an event on the calendar as the provider would hold it. */
    public void putEvent(Map<String, Object> event) {
        events.put(key((String) event.get("grant_id"), (String) event.get("id")), new LinkedHashMap<>(event));
    }

    /** The next calls answer these statuses (with an error envelope) before the normal behaviour resumes. */
    public void failNext(int... statuses) {
        for (int s : statuses) {
            injectedStatuses.add(s);
        }
    }

    /** How many calls were answered, by "METHOD status". */
    public int calls(String methodAndStatus) {
        AtomicInteger n = calls.get(methodAndStatus);
        return n == null ? 0 : n.get();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            String[] path = exchange.getRequestURI().getRawPath().split("/");
            // /v3/grants/{grant}/events/{id}
            if (!("Bearer " + apiKey).equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
                error(exchange, method, 401, "unauthorized", "Unauthorized");
                return;
            }
            Integer injected = injectedStatuses.poll();
            if (injected != null) {
                error(exchange, method, injected, "simulated", "Injected failure");
                return;
            }
            if (path.length == 6 && "events".equals(path[4]) && "GET".equals(method)) {
                Map<String, Object> event = events.get(key(decode(path[3]), decode(path[5])));
                if (event == null) {
                    error(exchange, method, 404, "not_found_error", "Event not found");
                } else {
                    respond(exchange, method, 200, Map.of("request_id", UUID.randomUUID().toString(), "data", event));
                }
                return;
            }
            error(exchange, method, 404, "not_found_error", "No such endpoint");
        }
    }

    private void error(HttpExchange exchange, String method, int status, String type, String message)
            throws IOException {
        respond(exchange, method, status, Map.of("request_id", UUID.randomUUID().toString(),
                "error", Map.of("type", type, "message", message)));
    }

    private void respond(HttpExchange exchange, String method, int status, Object body) throws IOException {
        calls.computeIfAbsent(method + " " + status, k -> new AtomicInteger()).incrementAndGet();
        byte[] bytes = json.writeValueAsBytes(body);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static String key(String grantId, String eventId) {
        return grantId + "\u0000" + eventId;
    }

    private static String decode(String segment) {
        return URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
    }
}
