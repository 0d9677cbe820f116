package com.example.host;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.simulator.NylasSimulator;
import dev.calsync.support.EmbeddedServers;
import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.Route;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * calsync inside an application that already runs flows of its own ({@link HostApplication}), added as a dependency
 * and configured under {@code calsync.*} only, its HTTP endpoints under {@code calsync.http.base-path=/calsync}: both
 * sets of routes run in the host's one CamelContext, the host's endpoint answers as the host defines it, each Flyway
 * keeps its own scripts and history, and a calendar round trip passes through calsync under its base path (and
 * through the host's Java route that replaces calsync's YAML sink of the same id); calsync's OpenAPI description, under its
 * base path, holds calsync's endpoints and not the host's REST DSL ones.
 */
class HostApplicationTest {

    private static final String SECRET = "host-webhook-secret";
    private static final String TOKEN = "host-calsync-token";
    private static final String KEY = "host-nylas-key";
    private static final String GRANT = "grant-host";

    private static NylasSimulator nylas;
    private static ConfigurableApplicationContext host;
    private static int port;
    private static int webhookPort;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startTheHostWithCalsyncInIt() {
        nylas = new NylasSimulator(KEY);
        port = EmbeddedServers.freePort();
        webhookPort = EmbeddedServers.freePort();
        Map<String, String> p = new LinkedHashMap<>();
        p.put("spring.config.location", "classpath:host/host-application.yaml");
        p.put("server.port", String.valueOf(port));
        p.put("server.address", "127.0.0.1");
        p.put("spring.datasource.url", EmbeddedServers.newDatabase("host"));
        p.put("spring.datasource.username", "postgres");
        p.put("spring.datasource.password", "postgres");
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + EmbeddedServers.redisPort());
        p.put("calsync.webhook.secrets", SECRET);
        p.put("calsync.api.token", TOKEN);
        p.put("calsync.nylas.api-uri", nylas.baseUrl());
        p.put("calsync.nylas.api-key", KEY);
        p.put("calsync.webhook.listener.port", String.valueOf(webhookPort));
        p.put("calsync.webhook.listener.bind-address", "127.0.0.1");
        p.put("calsync.inbound.poll-delay-millis", "50");
        p.put("calsync.push.poll-delay-millis", "50");
        p.put("calsync.routes-dir", "no-such-directory"); // calsync's packaged route files only
        host = new SpringApplicationBuilder(HostApplication.class)
                .run(p.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new));
        nylas.deliverWebhooksTo(SECRET, "http://127.0.0.1:" + webhookPort + "/calsync/webhooks/nylas");
    }

    @AfterAll
    static void stop() {
        if (host != null) {
            host.close();
        }
        nylas.close();
    }

    @Test
    void bothSetsOfRoutesRunInTheHostsCamelContext() {
        CamelContext camel = host.getBean(CamelContext.class);
        List<String> ids = camel.getRoutes().stream().map(Route::getRouteId).toList();

        assertThat(camel.getName()).as("the host's name stays").isEqualTo("host");
        assertThat(ids).contains("host-greeting", "host-orders");
        assertThat(ids).filteredOn(id -> id.startsWith("calsync-")).hasSizeGreaterThan(20);
        assertThat(ids).filteredOn(id -> !id.startsWith("calsync-") && !id.startsWith("host-"))
                .as("route ids neither the host's nor calsync's (the REST DSL names its own)")
                .allMatch(id -> id.startsWith("route"));
        ProducerTemplate producer = camel.createProducerTemplate();
        assertThat(producer.requestBody("direct:host-greeting", "team", String.class)).isEqualTo("hello team");
        assertThat(producer.requestBody("direct:host-orders", "42", String.class)).isEqualTo("order 42 accepted");
    }

    @Test
    void theHostsOwnEndpointAnswersUnauthenticatedAsTheHostDefinesIt() throws Exception {
        HttpResponse<String> status = get("/api/status", null);

        assertThat(status.statusCode()).as(status.body()).isEqualTo(200);
        assertThat(json.readTree(status.body()).path("orders").asInt(-1)).isZero();
    }

    @Test
    void eachFlywayKeepsItsOwnScriptsAndHistory() {
        JdbcTemplate jdbc = host.getBean(JdbcTemplate.class);

        assertThat(jdbc.queryForList("SELECT script FROM flyway_schema_history WHERE script LIKE 'V%'", String.class))
                .as("the host's history").containsExactly("V1__host_orders.sql");
        assertThat(jdbc.queryForList("SELECT script FROM calsync_schema_history WHERE script LIKE 'V%'", String.class))
                .as("calsync's history").contains("V1__inbound_sync.sql").doesNotContain("V1__host_orders.sql");
    }

    @Test
    void calsyncsServletFiltersAreRegisteredForItsOwnPathsOnly() {
        @SuppressWarnings({"rawtypes", "unchecked"})
        Map<String, FilterRegistrationBean> registrations =
                host.getBeansOfType(FilterRegistrationBean.class);
        List<String> calsyncFilters = List.of("AcceptingGate", "WebhookRequestGuard", "ApiTokenFilter", "ApiBodyGuard");

        var calsync = registrations.values().stream()
                .filter(r -> calsyncFilters.contains(r.getFilter().getClass().getSimpleName())).toList();
        assertThat(calsync).as("one registration per filter").hasSize(calsyncFilters.size());
        calsync.forEach(r -> assertThat((Collection<String>) r.getUrlPatterns())
                .as(r.getFilter().getClass().getSimpleName()).isNotEmpty()
                .allMatch(pattern -> pattern.startsWith("/calsync/"))
                .contains("/calsync/admin/grants/*"));
    }

    @Test
    void calsyncAnswersUnderItsBasePathOnly() throws Exception {
        assertThat(get("/calsync/api/v1/events/none", TOKEN).statusCode()).as("unknown record").isEqualTo(404);
        assertThat(get("/calsync/api/v1/events/none", null).statusCode()).as("no token").isEqualTo(401);
        assertThat(get("/api/v1/events/none", TOKEN).statusCode()).as("outside the base path").isEqualTo(404);
    }

    @Test
    void calsyncsOpenApiDescriptionHoldsCalsyncsEndpointsOnly() throws Exception {
        HttpResponse<String> hostRest = get("/greetings/team", null);

        HttpResponse<String> description = get("/calsync/openapi.json", null);

        assertThat(hostRest.statusCode()).as("the host's own REST DSL endpoint").isEqualTo(200);
        assertThat(description.statusCode()).isEqualTo(200);
        com.fasterxml.jackson.databind.JsonNode document = json.readTree(description.body());
        assertThat(document.path("servers").get(0).path("url").asText()).isEqualTo("/calsync");
        List<String> paths = new java.util.ArrayList<>();
        document.path("paths").fieldNames().forEachRemaining(paths::add);
        assertThat(paths).contains("/api/v1/events/{id}", "/webhooks/nylas")
                .noneMatch(path -> path.contains("greetings"));
        assertThat(get("/openapi.json", null).statusCode()).as("no description at the host's root").isEqualTo(404);
    }

    @Test
    void aCalendarRoundTripPassesThroughCalsync() throws Exception {
        long start = java.time.Instant.now().getEpochSecond() + 7 * 86_400;
        Map<String, Object> when = Map.of("start_time", start, "end_time", start + 1800);
        String eventId = (String) nylas.userCreates(GRANT, "primary", Map.of("title", "Kick-off", "when", when))
                .get("id");
        JdbcTemplate jdbc = host.getBean(JdbcTemplate.class);
        await().atMost(Duration.ofSeconds(30)).until(() -> jdbc.queryForObject(
                "SELECT count(*) FROM app_event WHERE title = 'Kick-off'", Integer.class) == 1);
        String recordId = jdbc.queryForObject("SELECT internal_id FROM event_sync_map WHERE nylas_event_id = ?",
                String.class, eventId);
        assertThat(HostApplication.RECEIVED).as("written through the host's Java sink").contains(recordId);

        HttpResponse<String> read = get("/calsync/api/v1/events/" + recordId, TOKEN);
        assertThat(read.statusCode()).as(read.body()).isEqualTo(200);
        assertThat(json.readTree(read.body()).path("title").asText()).isEqualTo("Kick-off");

        Map<String, Object> record = new LinkedHashMap<>();
        record.put("grant_id", GRANT);
        record.put("calendar_id", "primary");
        record.put("title", "Retro");
        record.put("when", when);
        HttpResponse<String> put = http.send(HttpRequest.newBuilder(url("/calsync/api/v1/events/host-rec-1"))
                .header("Authorization", "Bearer " + TOKEN).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(record))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
        await().atMost(Duration.ofSeconds(30)).until(() -> nylas.countWithKey1(GRANT, "host-rec-1", false) == 1);
    }

    private HttpResponse<String> get(String path, String token) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(url(path)).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }
}
