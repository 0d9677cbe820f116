package dev.calsync.autoconfigure;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.RoutePreconditions;
import org.apache.camel.CamelContext;
import org.apache.camel.model.Model;
import org.apache.camel.model.RouteDefinition;
import org.apache.camel.spi.Resource;
import org.apache.camel.spi.ResourceLoader;
import org.apache.camel.spring.boot.CamelContextConfiguration;
import org.apache.camel.support.PluginHelper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;

/**
 * Loads calsync's route files without touching the application's own route settings
 * ({@code camel.main.routes-include-pattern} stays the application's): every {@code *.camel.yaml} packaged under
 * {@code classpath:calsync/routes/}, each replaced by the file of the same name in {@code calsync.routes-dir} when
 * there is one, plus any other {@code *.camel.yaml} file there. A team edits or adds files in that directory (the
 * standalone service's {@code routes/}); the rest stay as released. A route the application defines in Java with
 * the id of one of calsync's replaces it.
 */
@Configuration(proxyBeanMethods = false)
public class CalsyncRoutesLoader {

    private static final Logger LOG = LoggerFactory.getLogger(CalsyncRoutesLoader.class);
    static final String PACKAGED = "calsync/routes/";
    static final String SUFFIX = ".camel.yaml";

    @Bean
    CamelContextConfiguration calsyncRoutes(CalsyncProperties properties) {
        return new CamelContextConfiguration() {
            @Override
            public void beforeApplicationStart(CamelContext camel) {
                Map<String, Resource> files;
                Set<String> shared;
                try {
                    files = routeFiles(camel, properties.routesDir());
                    shared = idsOfMoreThanOneFile(files.values());
                } catch (IOException e) {
                    throw new UncheckedIOException("calsync's route files could not be read", e);
                }
                Model model = camel.getCamelContextExtension().getContextPlugin(Model.class);
                Function<RouteDefinition, Boolean> applications = model.getRouteFilter();
                // a route the application defines itself (Java DSL, with the same id) replaces calsync's: the
                // YAML one is left out. Camel's model lets a later definition replace an earlier one of the same id,
                // so without this the order in which the two are added would decide
                model.setRouteFilter(route -> {
                    if (applications != null && !applications.apply(route)) {
                        return false;
                    }
                    // an id several files define (the local sinks, one per calsync.local.sink): its precondition is
                    // decided as the route is added, so only the one that holds is loaded. Every other precondition
                    // is left to Camel at start, after the REST verbs are merged into the routes they call
                    if (shared.contains(route.getId()) && !RoutePreconditions.included(camel, route)) {
                        return false;
                    }
                    if (route.getId() != null && model.getRouteDefinition(route.getId()) != null) {
                        LOG.info("Route {} is the application's own: calsync's route of that id is left out",
                                route.getId());
                        return false;
                    }
                    return true;
                });
                try {
                    PluginHelper.getRoutesLoader(camel).loadRoutes(files.values().toArray(Resource[]::new));
                } catch (Exception e) {
                    throw new IllegalStateException("calsync's route files could not be loaded: " + e.getMessage(), e);
                } finally {
                    model.setRouteFilter(applications);
                }
            }

            @Override
            public void afterApplicationStart(CamelContext camel) {
                // nothing: the routes start with the context
            }
        };
    }

    /** Route ids that more than one of the files defines ({@code - route:} then {@code id:}). */
    static Set<String> idsOfMoreThanOneFile(Iterable<Resource> files) throws IOException {
        Pattern routeId = Pattern.compile("^- route:\\s*\\n\\s+id:\\s*\"?([A-Za-z0-9_.-]+)", Pattern.MULTILINE);
        Set<String> seen = new HashSet<>();
        Set<String> shared = new HashSet<>();
        for (Resource file : files) {
            String text;
            try (var in = file.getInputStream()) {
                text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            }
            Set<String> ofFile = new HashSet<>();
            Matcher m = routeId.matcher(text);
            while (m.find()) {
                ofFile.add(m.group(1));
            }
            for (String id : ofFile) {
                if (!seen.add(id)) {
                    shared.add(id);
                }
            }
        }
        return shared;
    }

    /** The route files to load by file name: packaged ones, replaced or joined by those in {@code routesDir}. */
    static Map<String, Resource> routeFiles(CamelContext camel, String routesDir) throws IOException {
        ResourceLoader loader = PluginHelper.getResourceLoader(camel);
        Map<String, Resource> files = new TreeMap<>();
        for (org.springframework.core.io.Resource packaged : new PathMatchingResourcePatternResolver(
                CalsyncRoutesLoader.class.getClassLoader()).getResources("classpath*:" + PACKAGED + "*" + SUFFIX)) {
            String name = packaged.getFilename();
            files.put(name, loader.resolveResource("classpath:" + PACKAGED + name));
        }
        Path dir = routesDir == null || routesDir.isBlank() ? null : Path.of(routesDir);
        if (dir != null && Files.isDirectory(dir)) {
            try (Stream<Path> local = Files.list(dir)) {
                local.filter(p -> p.getFileName().toString().endsWith(SUFFIX) && Files.isRegularFile(p))
                        .forEach(p -> {
                            String name = p.getFileName().toString();
                            if (files.containsKey(name)) {
                                LOG.debug("Route file {} from {}", name, dir);
                            } else {
                                LOG.info("Route file {} from {} (not one of calsync's own)", name, dir);
                            }
                            files.put(name, loader.resolveResource("file:" + p.toAbsolutePath()));
                        });
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
        return files;
    }
}
