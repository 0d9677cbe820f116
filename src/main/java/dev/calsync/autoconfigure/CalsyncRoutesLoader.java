package dev.calsync.autoconfigure;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import dev.calsync.config.CalsyncProperties;
import org.apache.camel.CamelContext;
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
 * standalone service's {@code routes/}); the rest stay as released.
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
                try {
                    PluginHelper.getRoutesLoader(camel).loadRoutes(
                            routeFiles(camel, properties.routesDir()).values().toArray(Resource[]::new));
                } catch (Exception e) {
                    throw new IllegalStateException("calsync's route files could not be loaded: " + e.getMessage(), e);
                }
            }

            @Override
            public void afterApplicationStart(CamelContext camel) {
                // nothing: the routes start with the context
            }
        };
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
