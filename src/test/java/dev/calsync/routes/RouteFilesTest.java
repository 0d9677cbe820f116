package dev.calsync.routes;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
import dev.calsync.CalsyncHeaders;
import dev.calsync.CalsyncVariables;
import dev.calsync.support.IntegrationTest;
import org.apache.camel.Route;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The route files are the product's public surface: each one is valid Camel YAML DSL, the routes they define load
 * with their stable ids (tests, metrics and operators refer to them), and each file can be replaced on its own: the
 * shared error handling lives in the configurations file, and a file calls only endpoints the set defines. Each file
 * states at its top its switch and the {@code Calsync*} headers and variables its routes name (each declared once, in
 * {@link CalsyncHeaders} or, for route-internal state, in {@link CalsyncVariables}).
 */
class RouteFilesTest extends IntegrationTest {

    static Stream<Path> routeFiles() throws IOException {
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            return files.filter(p -> p.toString().endsWith(".camel.yaml")).toList().stream();
        }
    }

    static final Path CONFIGURATIONS = Path.of("routes/calsync-route-configurations.camel.yaml");
    private static final Pattern CALSYNC_HEADER = Pattern.compile("\\bCalsync[A-Z][A-Za-z]*");

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
                "calsync-nylas-webhook-listener", "calsync-nylas-webhook", "calsync-webhook-request",
                "calsync-webhook-challenge", "calsync-webhook-acknowledge",
                "calsync-notification-poll", "calsync-process-notification", "calsync-notification-ignore",
                "calsync-inbox-purge",
                "calsync-inbound-event-upsert", "calsync-inbound-event-delete", "calsync-inbound-event-refetch",
                "calsync-nylas-get-event",
                "calsync-mapping-find-by-record", "calsync-mapping-find-by-event", "calsync-mapping-insert-pending",
                "calsync-mapping-mark-synced", "calsync-mapping-tombstone", "calsync-mapping-delete-duplicate",
                "calsync-mapping-delete-again",
                "calsync-grant-pause", "calsync-grant-update",
                "calsync-local-upsert", "calsync-local-upsert-batch", "calsync-local-delete",
                "calsync-app-event-get", "calsync-app-events-list", "calsync-app-event-put", "calsync-app-event-delete",
                "calsync-admin-notifications-list", "calsync-admin-notification-replay", "calsync-admin-push-replay",
                "calsync-admin-notifications-replay", "calsync-admin-pushes-replay", "calsync-admin-summary", "calsync-ops-page",
                "calsync-admin-grants-list", "calsync-admin-grant-resume", "calsync-json-response", "calsync-openapi",
                "calsync-outbound-poll", "calsync-push-record", "calsync-push-create", "calsync-push-update",
                "calsync-push-delete", "calsync-nylas-create-event", "calsync-nylas-update-event",
                "calsync-nylas-delete-event", "calsync-nylas-find-by-record", "calsync-nylas-call",
                "calsync-reconcile-scheduled", "calsync-reconcile-poll", "calsync-reconcile-claim",
                "calsync-reconcile-worker", "calsync-reconcile-lease-renewal", "calsync-reconcile-purge",
                "calsync-reconcile-grant", "calsync-reconcile-run", "calsync-reconcile-next-page",
                "calsync-reconcile-prefetch-page", "calsync-reconcile-list-page", "calsync-reconcile-import",
                "calsync-reconcile-import-batch", "calsync-reconcile-repair",
                "calsync-admin-reconcile-start", "calsync-admin-reconcile-list", "calsync-admin-reconcile-get");
        // namespaced, so they sit beside a host application's own routes
        assertThat(camel.getRoutes()).allSatisfy(r -> {
            assertThat(r.getRouteId()).as("route id").startsWith("calsync-");
            assertThat(r.getGroup()).as("group of " + r.getRouteId()).isEqualTo("calsync");
        });
        // REST verbs are inlined into their direct: route; their description stays on the verb
        assertThat(camel.getRoutes()).filteredOn(r -> !r.getEndpoint().getEndpointUri().startsWith("rest:"))
                .allSatisfy(r -> assertThat(r.getDescription()).as("description of " + r.getRouteId()).isNotBlank());
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void aFileNamesOnlyRouteConfigurationsOfTheConfigurationsFile(Path file) throws IOException {
        RouteFile configurations = RouteFile.read(CONFIGURATIONS);

        RouteFile routes = RouteFile.read(file);

        assertThat(routes.configurationsUsed()).as(file.toString())
                .isSubsetOf(configurations.configurationsDefined());
        if (!file.equals(CONFIGURATIONS)) {
            assertThat(routes.configurationsDefined()).as("route configurations defined in " + file).isEmpty();
        }
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void aFileCallsOnlyDirectEndpointsTheSetConsumes(Path file) throws IOException {
        Set<String> consumed = new TreeSet<>();
        try (Stream<Path> top = Files.list(Path.of("routes"))) {
            for (Path other : top.filter(p -> p.toString().endsWith(".camel.yaml")).toList()) {
                consumed.addAll(RouteFile.read(other).consumed());
            }
        }

        RouteFile routes = RouteFile.read(file);

        assertThat(routes.called()).as("direct: endpoints called in " + file).isSubsetOf(consumed);
    }

    @Test
    void theConfigurationsFileHoldsNoRoutesAndEachSinkFileDefinesTheSinksEndpoints() throws IOException {
        assertThat(RouteFile.read(CONFIGURATIONS).routeIds()).isEmpty();

        for (String sink : List.of("routes/local-store.camel.yaml", "routes/local-http.camel.yaml",
                "routes/local-kafka.camel.yaml")) {
            RouteFile file = RouteFile.read(Path.of(sink));
            assertThat(file.consumed()).as(sink).contains("calsync-local-upsert", "calsync-local-delete");
            assertThat(file.called()).as("a sink file calls only its own routes: " + sink)
                    .isSubsetOf(file.consumed());
        }
    }

    @Test
    void everyEndpointARunningRouteCallsHasARunningConsumer() {
        assertThat(RunningRoutes.callsWithoutConsumer(camel)).isEmpty();
        assertThat(RunningRoutes.consumed(camel)).contains("calsync-local-upsert", "calsync-inbound-event-upsert");
    }

    @ParameterizedTest
    @MethodSource("routeFiles")
    void aFileStatesAtItsTopEveryCalsyncHeaderItsRoutesNameAndItsSwitch(Path file) throws Exception {
        String text = Files.readString(file);
        String top = text.substring(0, text.indexOf("\n- "));
        String routes = text.substring(top.length());
        Set<String> declared = new TreeSet<>();
        for (Class<?> names : List.of(CalsyncHeaders.class, CalsyncVariables.class)) {
            for (Field field : names.getFields()) {
                assertThat(declared.add((String) field.get(null))).as("declared once: " + field.get(null)).isTrue();
            }
        }

        Set<String> named = calsyncHeaders(routes);

        assertThat(top).as("top comment of " + file).contains("Switch:");
        assertThat(calsyncHeaders(top)).as("headers and variables stated at the top of " + file).containsAll(named)
                .isSubsetOf(declared);
    }

    /**
     * The headers a route may set: the local sink's contract and the event's keys ({@link CalsyncHeaders}, each of the
     * sink contract's headers stated at the top of local-store.camel.yaml among them) and the components' own. Any
     * other state of a route is a variable ({@link CalsyncVariables}): headers travel with the message (an HTTP call
     * sends them), variables never leave the exchange.
     */
    @ParameterizedTest
    @MethodSource("routeFiles")
    void aRouteSetsNoHeaderButTheSinkContractsAndTheComponents(Path file) throws Exception {
        Set<String> contract = names(CalsyncHeaders.class);
        JsonNode routes = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        Set<String> set = new TreeSet<>();
        collect(routes, "setHeader", set);

        assertThat(set).as("headers set by " + file).allSatisfy(header -> assertThat(
                contract.contains(header) || COMPONENT_HEADERS.contains(header) || header.startsWith("Camel"))
                .as(header + " is neither in CalsyncHeaders (the sink contract) nor a component's header: make it a"
                        + " variable (CalsyncVariables)").isTrue());
    }

    @Test
    void theSinkContractsHeadersAreHeaders() throws Exception {
        String store = Files.readString(Path.of("routes/local-store.camel.yaml"));
        String contract = store.substring(store.indexOf("# Contract of"), store.indexOf("\n- "));

        assertThat(names(CalsyncHeaders.class)).containsAll(calsyncHeaders(contract))
                .contains("CalsyncRecordId", "CalsyncIdempotencyKey", "CalsyncClaim");
        assertThat(names(CalsyncVariables.class)).doesNotContainAnyElementsOf(calsyncHeaders(contract));
    }

    /**
     * A route reads each {@code Calsync*} name as what it is: a header read as a variable (or the other way round) is
     * null, silently.
     */
    @ParameterizedTest
    @MethodSource("routeFiles")
    void aRouteNamesEachCalsyncHeaderAsAHeaderAndEachVariableAsAVariable(Path file) throws Exception {
        String text = Files.readString(file);
        JsonNode routes = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        Set<String> headers = new TreeSet<>(matches(SIMPLE_HEADER, text));
        Set<String> variables = new TreeSet<>(matches(SIMPLE_VARIABLE, text));
        collect(routes, "setHeader", headers);
        collect(routes, "setVariable", variables);
        collectLanguage(routes, "header", headers);
        collectLanguage(routes, "variable", variables);
        headers.removeIf(name -> !name.startsWith("Calsync"));
        variables.removeIf(name -> !name.startsWith("Calsync"));

        assertThat(headers).as("Calsync* headers named by " + file).isSubsetOf(names(CalsyncHeaders.class));
        assertThat(variables).as("Calsync* variables named by " + file).isSubsetOf(names(CalsyncVariables.class));
    }

    private static final Set<String> COMPONENT_HEADERS = Set.of(
            "Content-Type", // an HTTP answer's or request's
            "Idempotency-Key", // the HTTP sink's request header (local-http.camel.yaml)
            "kafka.KEY", "calsync-change-type", "calsync-idempotency-key"); // the Kafka sink's message (README)
    private static final Pattern SIMPLE_HEADER = Pattern.compile("\\$\\{(?:header|headers)\\.([A-Za-z][\\w-]*)");
    private static final Pattern SIMPLE_VARIABLE = Pattern.compile("\\$\\{(?:variable|variables)\\.([A-Za-z][\\w-]*)");

    private static Set<String> names(Class<?> declaring) throws IllegalAccessException {
        Set<String> names = new TreeSet<>();
        for (Field field : declaring.getFields()) {
            names.add((String) field.get(null));
        }
        return names;
    }

    private static Set<String> matches(Pattern pattern, String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    /** The {@code name} of every step of this kind ({@code setHeader}, {@code setVariable}), anywhere in the tree. */
    private static void collect(JsonNode node, String step, Set<String> names) {
        if (node.isObject()) {
            node.fields().forEachRemaining(entry -> {
                if (entry.getKey().equals(step) && entry.getValue().hasNonNull("name")) {
                    names.add(entry.getValue().get("name").asText());
                }
                collect(entry.getValue(), step, names);
            });
        } else if (node.isArray()) {
            node.forEach(child -> collect(child, step, names));
        }
    }

    /** The names read by the {@code header} or {@code variable} expression language, anywhere in the tree. */
    private static void collectLanguage(JsonNode node, String language, Set<String> names) {
        if (node.isObject()) {
            node.fields().forEachRemaining(entry -> {
                if (entry.getKey().equals(language) && entry.getValue().hasNonNull("expression")) {
                    names.add(entry.getValue().get("expression").asText());
                }
                collectLanguage(entry.getValue(), language, names);
            });
        } else if (node.isArray()) {
            node.forEach(child -> collectLanguage(child, language, names));
        }
    }

    private static Set<String> calsyncHeaders(String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = CALSYNC_HEADER.matcher(text);
        while (m.find()) {
            names.add(m.group());
        }
        return names;
    }
}
