package dev.calsync.health;

import java.net.http.HttpResponse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.calsync.support.IntegrationTest;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The actuator on its own port (management.server.port): liveness and readiness probes for an orchestrator, and
 * health details only for a request bearing the admin token.
 */
class HealthProbesTest extends IntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode json(HttpResponse<String> response) throws Exception {
        return JSON.readTree(response.body());
    }

    @Test
    void livenessAndReadinessAnswerUpOnTheManagementPort() throws Exception {
        HttpResponse<String> liveness = managementGet("/actuator/health/liveness", null);
        HttpResponse<String> readiness = managementGet("/actuator/health/readiness", null);

        assertThat(liveness.statusCode()).isEqualTo(200);
        assertThat(json(liveness).path("status").asText()).isEqualTo("UP");
        assertThat(readiness.statusCode()).isEqualTo(200);
        assertThat(json(readiness).path("status").asText()).isEqualTo("UP");
    }

    @Test
    void readinessIsTheDatabaseAndTheRoutesStartedAndLivenessAsksNothingOutside() throws Exception {
        JsonNode readiness = json(managementGet("/actuator/health/readiness", ADMIN_TOKEN));
        JsonNode liveness = json(managementGet("/actuator/health/liveness", ADMIN_TOKEN));

        assertThat(readiness.path("components").properties()).extracting(java.util.Map.Entry::getKey)
                .containsExactlyInAnyOrder("db", "readinessState", "camelReadinessState");
        assertThat(liveness.path("components").properties()).extracting(java.util.Map.Entry::getKey)
                .containsExactly("livenessState");
    }

    @Test
    void aStoppedCalsyncRouteMakesTheServiceUnreadyButNotDead() throws Exception {
        camel.getRouteController().stopRoute("calsync-inbox-purge");
        try {
            HttpResponse<String> readiness = managementGet("/actuator/health/readiness", ADMIN_TOKEN);

            assertThat(readiness.statusCode()).as(readiness.body()).isEqualTo(503);
            assertThat(json(readiness).path("status").asText()).isEqualTo("OUT_OF_SERVICE");
            assertThat(json(readiness).path("components").path("camelReadinessState").path("status").asText())
                    .isEqualTo("OUT_OF_SERVICE");
            assertThat(managementGet("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
        } finally {
            camel.getRouteController().startRoute("calsync-inbox-purge");
        }
        assertThat(managementGet("/actuator/health/readiness", null).statusCode()).isEqualTo(200);
    }

    @Test
    void withoutTheAdminTokenHealthShowsTheStatusOnly() throws Exception {
        for (String token : new String[] {null, "wrong-token", API_TOKEN}) {
            HttpResponse<String> health = managementGet("/actuator/health", token);

            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(json(health).path("status").asText()).isEqualTo("UP");
            assertThat(json(health).has("components")).as("details for token %s", token).isFalse();
        }
    }

    @Test
    void withTheAdminTokenHealthShowsItsComponents() throws Exception {
        HttpResponse<String> health = managementGet("/actuator/health", ADMIN_TOKEN);

        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(json(health).path("components").path("db").path("status").asText()).isEqualTo("UP");
        assertThat(json(health).path("components").path("db").path("details").path("database").asText())
                .isEqualTo("PostgreSQL");
    }

    @Test
    void theServerPortNoLongerServesTheActuator() {
        for (String path : new String[] {"/actuator/health", "/actuator/health/readiness", "/actuator/prometheus"}) {
            assertThat(apiGet(path, ADMIN_TOKEN).statusCode()).as(path).isEqualTo(404);
        }
        assertThat(managementGet("/actuator/prometheus", null).statusCode()).isEqualTo(200);
    }
}
