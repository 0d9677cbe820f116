package dev.calsync.api;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.http.CalsyncPaths;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.PathItem;
import io.swagger.v3.oas.models.Paths;
import io.swagger.v3.oas.models.media.Content;
import io.swagger.v3.oas.models.media.MediaType;
import io.swagger.v3.oas.models.media.ObjectSchema;
import io.swagger.v3.oas.models.media.Schema;
import io.swagger.v3.oas.models.responses.ApiResponse;
import io.swagger.v3.oas.models.servers.Server;
import io.swagger.v3.oas.models.tags.Tag;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import org.apache.camel.CamelContext;
import org.apache.camel.model.Model;
import org.apache.camel.model.rest.RestDefinition;
import org.apache.camel.openapi.BeanConfig;
import org.apache.camel.openapi.OpenApiHelper;
import org.apache.camel.openapi.RestOpenApiReader;
import org.apache.camel.openapi.RestOpenApiSupport;
import org.springframework.stereotype.Component;

/**
 * {@code GET {base-path}/openapi.json}: the OpenAPI 3 description of calsync's HTTP API. camel-openapi-java's reader
 * reads calsync's own rest definitions (ids {@code calsync-*}; a host application's rests are not described), the
 * paths the plain routes serve (the webhook, this document) come from {@code classpath:calsync/openapi.yaml}.
 * <p>
 * Served by a route of calsync's rather than by Camel's REST API endpoint because that one is configured
 * application-wide ({@code camel.rest.api-context-path}) and would describe every rest of the CamelContext, a host
 * application's included. The paths are given below the base path, which is the server's url, and only those this
 * instance serves ({@link CalsyncPaths}: a part switched off is left out).
 */
@Component("openApiDescription")
public class OpenApiDescription {

    static final String BASE_DOCUMENT = "calsync/openapi.yaml";
    /** The prefix of calsync's rest definition ids (routes/api.camel.yaml). */
    private static final String CALSYNC_REST = "calsync-";

    private final CamelContext camel;
    private final CalsyncPaths paths;
    private final String basePath;
    private final String base;

    public OpenApiDescription(CamelContext camel, CalsyncProperties properties) {
        this.camel = camel;
        this.paths = CalsyncPaths.of(properties);
        this.basePath = properties.http().basePath();
        try (InputStream in = OpenApiDescription.class.getClassLoader().getResourceAsStream(BASE_DOCUMENT)) {
            if (in == null) {
                throw new IllegalStateException("classpath:" + BASE_DOCUMENT + " is missing");
            }
            this.base = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read classpath:" + BASE_DOCUMENT, e);
        }
    }

    /** The description as JSON. Read at each request, so a route file reloaded in development shows at once. */
    public String json() throws Exception {
        BeanConfig config = new BeanConfig();
        String json = RestOpenApiSupport.getJsonFromOpenAPIAsString(document(config), config);
        if (json == null) {
            throw new IllegalStateException("the OpenAPI description could not be written");
        }
        return json;
    }

    OpenAPI document(BeanConfig config) throws Exception {
        SwaggerParseResult parsed = new OpenAPIV3Parser().readContents(base);
        OpenAPI document = parsed.getOpenAPI();
        if (document == null) {
            throw new IllegalStateException("classpath:" + BASE_DOCUMENT + " is not OpenAPI: " + parsed.getMessages());
        }
        String version = OpenApiDescription.class.getPackage().getImplementationVersion();
        if (version != null) {
            document.getInfo().setVersion(version);
        }
        document.setServers(List.of(new Server().url(basePath.isEmpty() ? "/" : basePath)
                .description("calsync.http.base-path on server.port")));

        OpenAPI rest = new RestOpenApiReader().read(camel, calsyncRests(), config, camel.getName(),
                camel.getClassResolver());
        OpenApiHelper.clearVendorExtensions(rest);

        Paths all = new Paths();
        rest.getPaths().forEach((path, item) -> {
            // the rest paths carry the base path ({{calsync.http.base-path:}}/...): the server's url holds it
            if (paths.isApi(path) && path.startsWith(basePath)) {
                all.addPathItem(path.substring(basePath.length()), describeBodies(item));
            }
        });
        document.getPaths().forEach((path, item) -> {
            if (!path.equals(CalsyncPaths.WEBHOOK) || paths.webhookEnabled()) {
                all.addPathItem(path, item);
            }
        });
        document.setPaths(all);

        List<Tag> tags = new ArrayList<>(rest.getTags() == null ? List.of() : rest.getTags());
        tags.addAll(document.getTags());
        document.setTags(tags.stream().filter(tag -> all.values().stream()
                .flatMap(item -> item.readOperations().stream())
                .anyMatch(op -> op.getTags() != null && op.getTags().contains(tag.getName()))).toList());
        return document;
    }

    private List<RestDefinition> calsyncRests() {
        List<RestDefinition> rests = camel.getCamelContextExtension().getContextPlugin(Model.class).getRestDefinitions();
        return rests.stream().filter(r -> r.getId() != null && r.getId().startsWith(CALSYNC_REST)).toList();
    }

    /**
     * The shapes the REST DSL cannot state for a body that is JSON but no Java type: the reader describes a body
     * param without a Java type as a string, and a response without a model has no content. Every calsync request
     * body is a JSON object, every answer a JSON object: an error has the shape {@code Error}.
     */
    private static PathItem describeBodies(PathItem item) {
        for (Operation op : item.readOperations()) {
            if (op.getRequestBody() != null && op.getRequestBody().getContent() != null) {
                op.getRequestBody().getContent().values().forEach(media -> media.setSchema(new ObjectSchema()));
            }
            for (Map.Entry<String, ApiResponse> response : op.getResponses().entrySet()) {
                if (response.getValue().getContent() == null) {
                    boolean error = response.getKey().startsWith("4") || response.getKey().startsWith("5");
                    Schema<?> schema = error ? new Schema<>().$ref("#/components/schemas/Error") : new ObjectSchema();
                    response.getValue().setContent(new Content().addMediaType(BeanConfig.DEFAULT_MEDIA_TYPE,
                            new MediaType().schema(schema)));
                }
            }
        }
        return item;
    }
}
