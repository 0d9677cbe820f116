package dev.calsync.simulator;

import java.io.IOException;
import java.io.OutputStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

/**
 * The simulator's control surface over HTTP ({@code /_sim/...}), for the standalone server and the sandbox: act as
 * the calendar's user, inspect state and counters, hold and release webhooks, switch faults and quirks.
 */
final class SimulatorControl implements HttpHandler {

    private final NylasSimulator sim;
    private final ObjectMapper json;

    SimulatorControl(NylasSimulator sim, ObjectMapper json) {
        this.sim = sim;
        this.json = json;
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            try {
                String method = exchange.getRequestMethod();
                String[] path = exchange.getRequestURI().getRawPath().substring("/_sim/".length()).split("/");
                Map<String, String> q = NylasSimulator.query(exchange.getRequestURI().getRawQuery());
                Object result;
                switch (method + " " + path[0] + (path.length > 1 ? "/" + path[1] : "")) {
                    case "GET events" -> result = Map.of("data", sim.allEvents(q.get("grant_id")));
                    case "GET counters" -> result = sim.counters();
                    case "POST user/events" -> result = sim.userCreates(q.get("grant_id"), q.get("calendar_id"),
                            body(exchange));
                    case "PUT user/events" -> result = sim.userUpdates(NylasSimulator.decode(path[2]),
                            NylasSimulator.decode(path[3]), body(exchange));
                    case "DELETE user/events" -> result = Map.of("deleted",
                            sim.userDeletes(NylasSimulator.decode(path[2]), NylasSimulator.decode(path[3])));
                    case "PUT user/occurrences" -> result = sim.userEditsOccurrence(NylasSimulator.decode(path[2]),
                            NylasSimulator.decode(path[3]), Long.parseLong(path[4]), body(exchange));
                    case "DELETE user/occurrences" -> {
                        sim.userCancelsOccurrence(NylasSimulator.decode(path[2]), NylasSimulator.decode(path[3]),
                                Long.parseLong(path[4]));
                        result = Map.of("cancelled", true);
                    }
                    case "PUT user/rules" -> result = sim.userChangesRule(NylasSimulator.decode(path[2]),
                            NylasSimulator.decode(path[3]), json.readValue(exchange.getRequestBody().readAllBytes(),
                                    new TypeReference<List<String>>() {
                                    }));
                    case "GET occurrences" -> result = Map.of("data", sim.occurrences(q.get("grant_id"),
                            q.get("master_id"), Long.parseLong(q.get("from")), Long.parseLong(q.get("to"))));
                    case "POST webhooks/pause" -> {
                        sim.pauseWebhooks();
                        result = Map.of("paused", true);
                    }
                    case "POST webhooks/release" -> {
                        sim.releaseWebhooks("true".equals(q.get("shuffle")));
                        result = Map.of("paused", false);
                    }
                    case "POST faults" -> {
                        json.updateValue(sim.faults, body(exchange));
                        result = sim.faults;
                    }
                    case "POST quirks" -> {
                        json.updateValue(sim.quirks, body(exchange));
                        result = sim.quirks;
                    }
                    default -> {
                        write(exchange, 404, Map.of("error",
                                "no such control: " + method + " /_sim/" + String.join("/", path)));
                        return;
                    }
                }
                write(exchange, 200, result == null ? Map.of() : result);
            } catch (IllegalArgumentException e) {
                // no such series or occurrence, or a recurrence that is not valid: the test script's mistake
                write(exchange, 400, Map.of("error", String.valueOf(e.getMessage())));
            }
        }
    }

    private Map<String, Object> body(HttpExchange exchange) throws IOException {
        byte[] bytes = exchange.getRequestBody().readAllBytes();
        return bytes.length == 0 ? new HashMap<>() : json.readValue(bytes, new TypeReference<>() {
        });
    }

    private void write(HttpExchange exchange, int status, Object body) throws IOException {
        byte[] bytes = json.writerWithDefaultPrettyPrinter().writeValueAsBytes(body);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
