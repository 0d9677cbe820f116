package dev.calsync.routes;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonMetaSchema;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.NonValidationKeyword;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.calsync.support.IntegrationTest;
import org.apache.camel.Route;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The route files are the product's public surface: each one is valid Camel YAML DSL, and the routes they define
 * load with their stable ids (tests, metrics and operators refer to them).
 */
class RouteFilesTest extends IntegrationTest {

    static Stream<Path> routeFiles() throws IOException {
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            return files.filter(p -> p.toString().endsWith(".camel.yaml")).toList().stream();
        }
    }

    private static JsonSchema schema;

    private static synchronized JsonSchema schema() throws IOException {
        if (schema != null) {
            return schema;
        }
        try (InputStream in = RouteFilesTest.class.getResourceAsStream("/schema/camelYamlDsl.json")) {
            // the schema marks options "deprecated", which draft-04 does not know: register it as an annotation
            JsonMetaSchema v4 = JsonMetaSchema.builder(JsonMetaSchema.getV4())
                    .keyword(new NonValidationKeyword("deprecated")).build();
            JsonSchemaFactory factory = JsonSchemaFactory.builder(JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4))
                    .metaSchema(v4).build();
            schema = factory.getSchema(in, SchemaValidatorsConfig.builder().build());
        }
        return schema;
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void fileIsValidAgainstTheCamelYamlDslSchema(Path file) throws IOException {
        JsonNode routes = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());

        Set<ValidationMessage> errors = schema().validate(routes);

        assertThat(errors).as(file.toString()).isEmpty();
    }

    @Test
    void everyRouteIsLoadedWithItsStableId() {
        List<String> ids = camel.getRoutes().stream().map(Route::getRouteId).toList();

        assertThat(ids).contains(
                "nylas-webhook-listener", "nylas-webhook", "webhook-request", "webhook-challenge", "webhook-acknowledge",
                "notification-poll", "process-notification", "notification-ignore", "inbox-purge",
                "inbound-event-upsert", "inbound-event-delete", "inbound-event-refetch", "nylas-get-event",
                "mapping-find-by-record", "mapping-find-by-event", "mapping-insert-pending", "mapping-mark-synced", "mapping-tombstone",
                "mapping-delete-duplicate", "mapping-delete-again", "admin-grants-list", "admin-grant-resume",
                "grant-pause", "grant-update", "local-upsert", "local-upsert-batch", "local-delete", "reconcile-import", "reconcile-import-batch", "reconcile-claim",
                "app-event-get", "app-events-list", "admin-notifications-list", "admin-notification-replay",
                "app-event-put", "app-event-delete", "admin-push-replay", "json-response",
                "outbound-poll", "push-record", "push-create", "push-update", "push-delete", "nylas-create-event",
                "nylas-update-event", "nylas-delete-event", "nylas-find-by-record", "nylas-call",
                "reconcile-scheduled", "reconcile-poll", "reconcile-worker", "reconcile-lease-renewal", "reconcile-purge", "reconcile-grant",
                "reconcile-run", "reconcile-next-page", "reconcile-prefetch-page", "reconcile-list-page", "reconcile-repair",
                "admin-reconcile-start", "admin-reconcile-get");
        // REST verbs are inlined into their direct: route; their description stays on the verb
        assertThat(camel.getRoutes()).filteredOn(r -> !r.getEndpoint().getEndpointUri().startsWith("rest:"))
                .allSatisfy(r -> assertThat(r.getDescription()).as("description of " + r.getRouteId()).isNotBlank());
    }
}
