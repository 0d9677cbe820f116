package dev.calsync.sandbox;

import java.util.LinkedHashMap;
import java.util.Map;

import dev.calsync.CalsyncApplication;
import dev.calsync.support.EmbeddedServers;
import org.springframework.boot.builder.SpringApplicationBuilder;

/**
 * {@code ./mvnw spring-boot:test-run}: the service on embedded defaults. PostgreSQL and Redis are started
 * in-process on loopback unless SPRING_DATASOURCE_URL / SPRING_DATA_REDIS_URL are given; without credentials the
 * webhook secret and API token default to the sandbox values printed at start-up.
 */
public final class SandboxApplication {

    static final String SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret";
    static final String SANDBOX_API_TOKEN = "sandbox-api-token";

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
        if (System.getenv("NYLAS_WEBHOOK_SECRET") == null) {
            defaults.put("calsync.webhook.secrets", SANDBOX_WEBHOOK_SECRET);
        }
        if (System.getenv("APP_API_TOKEN") == null) {
            defaults.put("calsync.api.token", SANDBOX_API_TOKEN);
        }
        System.out.printf("%nSandbox: webhook secret '%s', API token '%s' (set NYLAS_WEBHOOK_SECRET / APP_API_TOKEN"
                + " to choose your own)%n%n", defaults.getOrDefault("calsync.webhook.secrets", "<from env>"),
                defaults.getOrDefault("calsync.api.token", "<from env>"));
        // as command-line arguments, so they outrank application.yaml; the caller's own arguments come last and win
        java.util.List<String> all = new java.util.ArrayList<>();
        defaults.forEach((k, v) -> all.add("--" + k + "=" + v));
        all.addAll(java.util.List.of(args));
        new SpringApplicationBuilder(CalsyncApplication.class).run(all.toArray(String[]::new));
    }
}
