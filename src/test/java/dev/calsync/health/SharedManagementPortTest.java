package dev.calsync.health;

import java.net.http.HttpResponse;
import java.util.Map;

import dev.calsync.support.EmbeddedServers;
import dev.calsync.support.IntegrationTest;
import dev.calsync.support.RunningService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code MANAGEMENT_SERVER_PORT} equal to {@code server.port}: the actuator is served on the application's port
 * again, as before it had one of its own, with the same probes and the same authorisation of details.
 */
class SharedManagementPortTest {

    private static RunningService service;

    @BeforeAll
    static void startWithOnePort() {
        String port = String.valueOf(EmbeddedServers.freePort());
        service = RunningService.start(EmbeddedServers.newDatabase("shared_management_port"), Map.of(
                "server.port", port, "management.server.port", port,
                "calsync.api.admin-token", IntegrationTest.ADMIN_TOKEN,
                "calsync.dedupe.redis-key-prefix", "calsync-shared-port:notification"));
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
    }

    @Test
    void theActuatorIsOnTheServerPort() {
        assertThat(service.managementPort()).isEqualTo(service.port());
        assertThat(service.managementGet("/actuator/health/liveness", null).statusCode()).isEqualTo(200);
        assertThat(service.managementGet("/actuator/health/readiness", null).statusCode()).isEqualTo(200);
        assertThat(service.managementGet("/actuator/prometheus", null).statusCode()).isEqualTo(200);
    }

    @Test
    void healthDetailsAreShownWithTheAdminTokenOnly() {
        HttpResponse<String> anonymous = service.managementGet("/actuator/health", null);
        HttpResponse<String> admin = service.managementGet("/actuator/health", IntegrationTest.ADMIN_TOKEN);

        assertThat(anonymous.statusCode()).isEqualTo(200);
        assertThat(anonymous.body()).contains("\"status\":\"UP\"").doesNotContain("components");
        assertThat(admin.statusCode()).isEqualTo(200);
        assertThat(admin.body()).contains("\"components\"").contains("\"db\"");
    }

    @Test
    void theApplicationApiKeepsItsOwnTokenCheck() {
        // the actuator's authorisation does not open the admin API: a request without a token is still refused
        assertThat(service.managementGet("/admin/notifications?status=dead", null).statusCode()).isEqualTo(401);
    }
}
