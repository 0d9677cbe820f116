package dev.calsync.routes;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

/**
 * What one route file defines and what it needs from the others, read from its YAML: the {@code direct:} endpoints
 * its routes consume and the ones they (or its REST verbs) call, the route configurations it defines and the ones its
 * routes name.
 */
record RouteFile(Path path, Set<String> routeIds, Set<String> consumed, Set<String> called,
                 Set<String> configurationsDefined, Set<String> configurationsUsed) {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Pattern DIRECT = Pattern.compile("^direct:([A-Za-z0-9_-]+)");

    static RouteFile read(Path path) throws IOException {
        JsonNode items = YAML.readTree(path.toFile());
        RouteFile file = new RouteFile(path, new LinkedHashSet<>(), new LinkedHashSet<>(), new LinkedHashSet<>(),
                new LinkedHashSet<>(), new LinkedHashSet<>());
        for (JsonNode item : items) {
            if (item.has("route")) {
                JsonNode route = item.get("route");
                file.routeIds.add(route.path("id").asText());
                if (route.has("routeConfigurationId")) {
                    file.configurationsUsed.add(route.get("routeConfigurationId").asText());
                }
                direct(route.path("from").path("uri").asText()).ifPresent(file.consumed::add);
                file.called.addAll(calls(route.path("from").path("steps")));
            } else if (item.has("routeConfiguration")) {
                file.configurationsDefined.add(item.get("routeConfiguration").path("id").asText());
            } else if (item.has("rest")) {
                file.called.addAll(calls(item.get("rest")));
            }
        }
        return file;
    }

    /** Every {@code direct:} endpoint named anywhere below {@code node} (uri, constant, a REST verb's to). */
    private static List<String> calls(JsonNode node) {
        List<String> found = new ArrayList<>();
        if (node.isTextual()) {
            direct(node.asText()).ifPresent(found::add);
        } else if (node.isContainerNode()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                found.addAll(calls(it.next().getValue()));
            }
            if (node.isArray()) {
                node.forEach(child -> found.addAll(calls(child)));
            }
        }
        return found;
    }

    private static java.util.Optional<String> direct(String uri) {
        Matcher m = DIRECT.matcher(uri);
        return m.find() ? java.util.Optional.of(m.group(1)) : java.util.Optional.empty();
    }
}
