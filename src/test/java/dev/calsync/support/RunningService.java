package dev.calsync.support;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.calsync.CalsyncApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * A service instance a test starts and stops itself (to kill it between acknowledgement and processing, or to take
 * its database away), on a database of its own so no other test's instance touches its rows.
 */
public final class RunningService implements AutoCloseable {

    private final ConfigurableApplicationContext context;
    private final HttpClient http = HttpClient.newHttpClient();

    private RunningService(ConfigurableApplicationContext context) {
        this.context = context;
    }

    public static RunningService start(String jdbcUrl, Map<String, Object> overrides) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("server.port", "0");
        p.put("calsync.webhook.listener.port", "0");
        p.put("management.server.port", "0");
        // on loopback only
        p.put("server.address", "127.0.0.1");
        p.put("management.server.address", "127.0.0.1");
        p.put("calsync.webhook.listener.bind-address", "127.0.0.1");
        p.put("spring.datasource.url", jdbcUrl);
        p.put("spring.datasource.username", "postgres");
        p.put("spring.datasource.password", "postgres");
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + EmbeddedServers.redisPort());
        p.put("calsync.webhook.secrets", IntegrationTest.SECRET);
        p.put("calsync.api.token", IntegrationTest.API_TOKEN);
        p.put("calsync.inbound.poll-delay-millis", "50");
        p.put("camel.main.name", "calsync-" + System.nanoTime());
        p.putAll(overrides);
        if (!"0".equals(String.valueOf(p.get("server.port")))
                && String.valueOf(p.get("server.port")).equals(String.valueOf(p.get("management.server.port")))) {
            // the actuator on the application's port: it has no address of its own (Spring Boot refuses one)
            p.remove("management.server.address");
        }
        // command-line arguments outrank application.yaml (default properties would not)
        String[] args = p.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        return new RunningService(new SpringApplicationBuilder(CalsyncApplication.class).run(args));
    }

    public JdbcTemplate jdbc() {
        return context.getBean(JdbcTemplate.class);
    }

    public <T> T bean(Class<T> type) {
        return context.getBean(type);
    }

    public HttpResponse<String> deliver(String body) {
        try {
            return http.send(HttpRequest.newBuilder(webhookUrl())
                    .header("Content-Type", "application/json")
                    .header("X-Nylas-Signature", Signing.sign(body.getBytes(StandardCharsets.UTF_8),
                            IntegrationTest.SECRET))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The webhook on its own listener. */
    public URI webhookUrl() {
        return URI.create("http://127.0.0.1:" + bean(dev.calsync.webhook.WebhookListener.class).port() + "/webhooks/nylas");
    }

    public int port() {
        return Integer.parseInt(context.getEnvironment().getProperty("local.server.port"));
    }

    /** The actuator's port: its own, or {@link #port()} when management.server.port is server.port. */
    public int managementPort() {
        return Integer.parseInt(context.getEnvironment().getProperty("local.management.port",
                context.getEnvironment().getProperty("local.server.port")));
    }

    /** GETs an actuator path ({@code /actuator/...}) on the management port, with this bearer token or none. */
    public HttpResponse<String> managementGet(String path, String token) {
        HttpRequest.Builder request = HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + managementPort() + path)).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        try {
            return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        context.close();
    }
}
