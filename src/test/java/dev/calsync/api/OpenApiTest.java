package dev.calsync.api;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.calsync.support.IntegrationTest;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.parameters.Parameter;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code GET /openapi.json} describes calsync's HTTP API as OpenAPI 3, without a token: exactly the endpoints the
 * README's "HTTP interface" table lists, each with every status it answers, and each answering as described.
 */
class OpenApiTest extends IntegrationTest {

    /** A row of the README's table: its first cell starts with {@code `METHOD /path}, a query or body may follow. */
    private static final Pattern README_ROW = Pattern.compile("^\\| `(GET|PUT|POST|DELETE|PATCH) (/[^`?\\s]*)");

    @Test
    void theDescriptionIsServedWithoutATokenAndIsValidOpenApi3() {
        HttpResponse<String> response = apiGet("/openapi.json", null);

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValue("application/json");
        SwaggerParseResult parsed = new OpenAPIV3Parser().readContents(response.body());
        assertThat(parsed.getMessages()).as("OpenAPI validation messages").isEmpty();
        assertThat(parsed.getOpenAPI().getOpenapi()).startsWith("3.");
        assertThat(parsed.getOpenAPI().getServers()).extracting(s -> s.getUrl()).containsExactly("/");
    }

    @Test
    void theDescriptionHoldsExactlyTheEndpointsOfTheReadmesHttpInterfaceTable() throws IOException {
        Set<String> readme = readmeEndpoints();

        Set<String> described = operations(description()).keySet();

        assertThat(readme).as("README rows").contains("PUT /api/v1/events/{id}", "POST /webhooks/nylas");
        assertThat(described).as("described, but not in the README's table").isSubsetOf(readme);
        assertThat(readme).as("in the README's table, but not described").isSubsetOf(described);
    }

    @Test
    void everyGuardedOperationDeclaresTheErrorsOfItsGuardsAndEveryBodyA400() {
        Map<String, Operation> operations = operations(description());

        assertThat(operations).allSatisfy((endpoint, op) -> {
            Set<String> codes = op.getResponses().keySet();
            if (op.getSecurity() != null && !op.getSecurity().isEmpty()) {
                // the token filter (401), the start/stop gate and the body guard's bounds (503), a failure (500)
                assertThat(codes).as(endpoint).contains("401", "500", "503");
            }
            if (op.getRequestBody() != null) {
                assertThat(codes).as(endpoint).contains("400", "413", "408");
            }
            assertThat(op.getSummary()).as(endpoint + " summary").isNotBlank();
        });
        assertThat(operations.get("GET /api/v1/events/{id}").getSecurity().get(0)).containsKey("appToken");
        assertThat(operations.get("GET /admin/notifications").getSecurity().get(0)).containsKey("adminToken");
        assertThat(operations.get("POST /webhooks/nylas").getResponses()).containsKeys("401", "400", "503");
    }

    @Test
    void everyDescribedOperationAnswersWithAStatusItDeclares() {
        Map<String, Operation> operations = operations(description());

        assertThat(operations).allSatisfy((endpoint, op) -> {
            HttpResponse<String> response = send(requestFor(endpoint, op));
            assertThat(op.getResponses()).as(endpoint + " answered " + response.statusCode() + " " + response.body())
                    .containsKey(String.valueOf(response.statusCode()));
        });
    }

    /** A request to an endpoint as a client would make it: path parameters filled, its token, no body. */
    private HttpRequest requestFor(String endpoint, Operation op) {
        String method = endpoint.substring(0, endpoint.indexOf(' '));
        String path = endpoint.substring(endpoint.indexOf(' ') + 1).replaceAll("\\{[^}]+}", "unknown-1");
        HttpRequest.Builder request = HttpRequest.newBuilder(url(path))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (op.getSecurity() != null && !op.getSecurity().isEmpty()) {
            boolean admin = op.getSecurity().get(0).containsKey("adminToken");
            request.header("Authorization", "Bearer " + (admin ? ADMIN_TOKEN : API_TOKEN));
        }
        return request.build();
    }

    @Test
    void parametersAreTheOnesTheApiReads() {
        Map<String, Operation> operations = operations(description());

        assertThat(names(operations.get("GET /api/v1/events"))).containsExactly("grant_id", "calendar_id", "limit",
                "cursor");
        assertThat(names(operations.get("GET /admin/notifications"))).containsExactly("status", "limit");
        assertThat(names(operations.get("GET /admin/grants"))).containsExactly("state", "status", "limit", "cursor");
        assertThat(names(operations.get("GET /admin/reconcile"))).containsExactly("status", "grant_id", "limit");
        assertThat(operations.get("POST /admin/notifications/replay").getRequestBody().getContent())
                .containsKey("application/json");
        assertThat(operations.get("POST /admin/events/replay").getRequestBody().getContent())
                .containsKey("application/json");
        assertThat(names(operations.get("POST /admin/grants/{grant_id}/resume"))).containsExactly("grant_id");
        assertThat(operations.get("PUT /api/v1/events/{id}").getRequestBody().getContent())
                .containsKey("application/json");
        assertThat(operations.get("GET /api/v1/events").getParameters()).allSatisfy(p ->
                assertThat(p.getRequired()).as(p.getName() + " required").isFalse());
    }

    private static List<String> names(Operation op) {
        return op.getParameters().stream().map(Parameter::getName).toList();
    }

    private OpenAPI description() {
        HttpResponse<String> response = apiGet("/openapi.json", null);
        assertThat(response.statusCode()).isEqualTo(200);
        return new OpenAPIV3Parser().readContents(response.body()).getOpenAPI();
    }

    /** "METHOD /path" of every operation, with its operation. */
    static Map<String, Operation> operations(OpenAPI document) {
        Map<String, Operation> all = new TreeMap<>();
        for (Map.Entry<String, PathItem> path : document.getPaths().entrySet()) {
            path.getValue().readOperationsMap().forEach((method, op) -> all.put(method + " " + path.getKey(), op));
        }
        return all;
    }

    /**
     * "METHOD /path" of every row of the README's "HTTP interface" table, except {@code /actuator/*}: Spring Boot's
     * actuator, not under calsync.http.base-path and not calsync's (an embedding application has its own or none).
     */
    static Set<String> readmeEndpoints() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        int start = readme.indexOf("\n## HTTP interface\n");
        assertThat(start).as("README section \"HTTP interface\"").isPositive();
        int end = readme.indexOf("\n## ", start + 1);
        Set<String> endpoints = new TreeSet<>();
        for (String line : readme.substring(start, end < 0 ? readme.length() : end).lines().toList()) {
            Matcher row = README_ROW.matcher(line);
            if (row.find() && !row.group(2).startsWith("/actuator/")) {
                endpoints.add(row.group(1) + " " + row.group(2));
            }
        }
        return endpoints;
    }
}
