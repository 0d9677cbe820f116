package dev.calsync.http;

import java.util.LinkedHashMap;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.BindException;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Which request paths are calsync's: its own under the base path, switched on; nothing beside them. */
class CalsyncPathsTest {

    private static CalsyncPaths paths(String... properties) {
        Map<String, String> p = new LinkedHashMap<>();
        for (int i = 0; i < properties.length; i += 2) {
            p.put(properties[i], properties[i + 1]);
        }
        return CalsyncPaths.of(new Binder(new MapConfigurationPropertySource(p))
                .bindOrCreate("calsync", CalsyncProperties.class));
    }

    @Test
    void byDefaultThePathsAreTheStandaloneOnes() {
        CalsyncPaths paths = paths();

        assertThat(paths.webhook()).isEqualTo("/webhooks/nylas");
        assertThat(paths.isWebhook("/webhooks/nylas")).isTrue();
        assertThat(paths.isApi("/api/v1/events")).isTrue();
        assertThat(paths.isApi("/api/v1/events/evt-1")).isTrue();
        assertThat(paths.isAdminApi("/admin/notifications")).isTrue();
        assertThat(paths.isAdminApi("/admin/reconcile/run-1")).isTrue();
        assertThat(paths.isAdminApi("/admin/grants/g-1/resume")).isTrue();
        assertThat(paths.isAdminApi("/admin/summary")).isTrue();
        assertThat(paths.isAdminApi("/admin/notifications/replay")).isTrue();
        assertThat(paths.isAdminApi("/api/v1/events")).isFalse();
        // the operator page itself needs no token: it asks the operator for one and calls the admin API with it
        assertThat(paths.isApi("/ops/")).isFalse();
    }

    @Test
    void aPathBesideCalsyncsIsNotCalsyncs() {
        CalsyncPaths paths = paths();

        assertThat(paths.isApi("/api/other")).isFalse();
        assertThat(paths.isApi("/api/v1/eventsX")).isFalse();
        assertThat(paths.isApi("/admin/users")).isFalse();
        assertThat(paths.isApi("/admin")).isFalse();
        assertThat(paths.isWebhook("/webhooks/other")).isFalse();
    }

    @Test
    void everyPathIsUnderTheBasePathAndOnlyThere() {
        CalsyncPaths paths = paths("calsync.http.base-path", "/calsync");

        assertThat(paths.webhook()).isEqualTo("/calsync/webhooks/nylas");
        assertThat(paths.isWebhook("/webhooks/nylas")).isFalse();
        assertThat(paths.isApi("/calsync/api/v1/events/evt-1")).isTrue();
        assertThat(paths.isAdminApi("/calsync/admin/notifications")).isTrue();
        assertThat(paths.isApi("/api/v1/events")).isFalse();
        assertThat(paths.isApi("/admin/notifications")).isFalse();
        assertThat(paths.isApi("/calsync/api/other")).isFalse();
    }

    @Test
    void aSwitchedOffPartHasNoPaths() {
        assertThat(paths("calsync.webhook.enabled", "false").isWebhook("/webhooks/nylas")).isFalse();
        CalsyncPaths apiOff = paths("calsync.api.enabled", "false");
        assertThat(apiOff.isApi("/api/v1/events")).isFalse();
        assertThat(apiOff.isApi("/admin/notifications")).isFalse();
        CalsyncPaths reconcileOff = paths("calsync.reconcile.enabled", "false");
        assertThat(reconcileOff.isAdminApi("/admin/reconcile")).isFalse();
        assertThat(reconcileOff.isAdminApi("/admin/notifications")).isTrue();
    }

    @Test
    void aBasePathMustStartWithASlashAndNotEndWithOne() {
        for (String bad : new String[] {"calsync", "/calsync/", "/cal sync", "/{{x}}", "//calsync"}) {
            assertThatThrownBy(() -> paths("calsync.http.base-path", bad)).as(bad)
                    .isInstanceOf(BindException.class)
                    .rootCause().hasMessageContaining("calsync.http.base-path");
        }
        assertThat(paths("calsync.http.base-path", "/integrations/calsync").webhook())
                .isEqualTo("/integrations/calsync/webhooks/nylas");
    }
}
