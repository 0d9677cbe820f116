package dev.calsync.sandbox;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.calsync.CalsyncApplication;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import org.springframework.boot.builder.SpringApplicationBuilder;

/**
 * {@code ./mvnw spring-boot:test-run}: the whole two-way loop on one machine with nothing installed. PostgreSQL and
 * Redis are started in-process on loopback unless SPRING_DATASOURCE_URL / SPRING_DATA_REDIS_URL are given; the Nylas
 * simulator plays the calendar (its webhooks go to this service, this service's API calls go to it) unless
 * NYLAS_API_KEY / NYLAS_API_URI are given. Without credentials the webhook secret and API tokens are the sandbox
 * values printed at start-up.
 */
public final class SandboxApplication {

    static final String SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret";
    static final String SANDBOX_API_TOKEN = "sandbox-api-token";
    static final String SANDBOX_NYLAS_KEY = "sandbox-nylas-key";

    private SandboxApplication() {
    }

    public static void main(String[] args) {
        Map<String, String> defaults = new LinkedHashMap<>();
        if (System.getenv("SPRING_DATASOURCE_URL") == null) {
            EmbeddedServers.springProperties().forEach((k, v) -> {
                if (k.startsWith("spring.datasource")) {
                    defaults.put(k, v);
                }
            });
        }
        if (System.getenv("SPRING_DATA_REDIS_URL") == null) {
            defaults.put("spring.data.redis.url", "redis://127.0.0.1:" + EmbeddedServers.redisPort());
        }
        // the sandbox listens on loopback only (SERVER_ADDRESS, CALSYNC_WEBHOOK_LISTENER_BIND_ADDRESS open it up)
        defaults.put("server.address", env("SERVER_ADDRESS", "127.0.0.1"));
        defaults.put("calsync.webhook.listener.bind-address", env("CALSYNC_WEBHOOK_LISTENER_BIND_ADDRESS", "127.0.0.1"));
        // the actuator's own port (MANAGEMENT_SERVER_PORT, 8081) too, unless it shares the server's port
        if (!env("MANAGEMENT_SERVER_PORT", "8081").equals(env("SERVER_PORT", "8080"))) {
            defaults.put("management.server.address", env("MANAGEMENT_SERVER_ADDRESS", "127.0.0.1"));
        }
        String secret = env("NYLAS_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET);
        defaults.put("calsync.webhook.secrets", secret);
        defaults.put("calsync.api.token", env("APP_API_TOKEN", SANDBOX_API_TOKEN));
        String simulator = "";
        if (System.getenv("NYLAS_API_KEY") == null && System.getenv("NYLAS_API_URI") == null) {
            int port = Integer.parseInt(env("SANDBOX_SIMULATOR_PORT", "8090"));
            NylasSimulator sim = new NylasSimulator(SANDBOX_NYLAS_KEY, port, java.time.Clock.systemUTC());
            // to the webhook's own listener (calsync.webhook.listener.port)
            String service = "http://127.0.0.1:" + env("CALSYNC_WEBHOOK_LISTENER_PORT", "8082") + "/webhooks/nylas";
            sim.deliverWebhooksTo(secret, service);
            defaults.put("calsync.nylas.api-uri", sim.baseUrl());
            defaults.put("calsync.nylas.api-key", SANDBOX_NYLAS_KEY);
            simulator = "Nylas simulator on " + sim.baseUrl() + " (webhooks to " + service + "; see docs/SIMULATOR.md)";
        }
        System.out.printf("%nSandbox: webhook secret '%s', API token '%s'. %s%n%n", secret,
                defaults.get("calsync.api.token"), simulator);
        // as command-line arguments, so they outrank application.yaml; the caller's own arguments come last and win
        List<String> all = new ArrayList<>();
        defaults.forEach((k, v) -> all.add("--" + k + "=" + v));
        all.addAll(List.of(args));
        new SpringApplicationBuilder(CalsyncApplication.class).run(all.toArray(String[]::new));
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}
