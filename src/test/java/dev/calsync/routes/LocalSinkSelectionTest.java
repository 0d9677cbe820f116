package dev.calsync.routes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.RoutePreconditions;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.model.ModelCamelContext;
import org.apache.camel.model.RouteDefinition;
import org.apache.camel.spi.Resource;
import org.apache.camel.support.PluginHelper;
import org.apache.camel.support.ResourceHelper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.validation.ValidationAutoConfiguration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * calsync.local.sink chooses the application's side of the sync by the routes' preconditions: for each value
 * exactly one file's local routes are loaded, and any other value stops the service at start-up.
 */
class LocalSinkSelectionTest {

    @ParameterizedTest(name = "sink {0}: the routes of {1}")
    @CsvSource({
            "store, local-store.camel.yaml, calsync-local-upsert calsync-local-upsert-batch calsync-local-delete",
            "http,  local-http.camel.yaml,  calsync-local-upsert calsync-local-delete",
            "kafka, local-kafka.camel.yaml, calsync-local-upsert calsync-local-delete calsync-local-kafka-publish"})
    void eachSinkLoadsTheLocalRoutesOfExactlyOneFile(String sink, String file, String routeIds) throws Exception {
        try (ModelCamelContext camel = new DefaultCamelContext()) {
            Properties properties = new Properties();
            properties.setProperty("calsync.local.sink", sink);
            camel.getPropertiesComponent().setInitialProperties(properties);
            RoutePreconditions.install(camel);

            PluginHelper.getRoutesLoader(camel).loadRoutes(localRouteFiles(camel));

            Map<String, String> loaded = new TreeMap<>();
            for (RouteDefinition route : camel.getRouteDefinitions()) {
                loaded.put(route.getRouteId(), Path.of(route.getResource().getLocation()).getFileName().toString());
            }
            Map<String, String> expected = new TreeMap<>();
            for (String id : routeIds.split(" ")) {
                expected.put(id, file);
            }
            assertThat(loaded).isEqualTo(expected);
        }
    }

    @Test
    void withoutTheSettingTheBuiltInStoreIsTheSink() throws Exception {
        try (ModelCamelContext camel = new DefaultCamelContext()) {
            RoutePreconditions.install(camel);
            PluginHelper.getRoutesLoader(camel).loadRoutes(localRouteFiles(camel));

            assertThat(camel.getRouteDefinitions()).extracting(r -> r.getResource().getLocation())
                    .allMatch(location -> location.endsWith("local-store.camel.yaml")).hasSize(3);
        }
    }

    @Test
    void anUnknownSinkStopsTheServiceAtStartUp() {
        properties().withPropertyValues("calsync.local.sink=kafak").run(context -> {
            assertThat(context).hasFailed();
            assertThat(messages(context.getStartupFailure())).contains("calsync.local.sink")
                    .contains("must be store, http or kafka");
        });
    }

    @Test
    void theKafkaSinkNeedsItsBrokers() {
        properties().withPropertyValues("calsync.local.sink=kafka", "calsync.local.kafka.brokers=").run(context -> {
            assertThat(context).hasFailed();
            assertThat(messages(context.getStartupFailure())).contains("calsync.local.kafka.brokers");
        });
        properties().withPropertyValues("calsync.local.kafka.brokers=").run(context -> assertThat(context)
                .hasNotFailed());
    }

    @Test
    void eachSinkValueIsAccepted() {
        for (String sink : List.of("store", "http", "kafka")) {
            properties().withPropertyValues("calsync.local.sink=" + sink).run(context -> {
                assertThat(context).hasNotFailed();
                assertThat(context.getBean(CalsyncProperties.class).local().sink()).isEqualTo(sink);
            });
        }
    }

    private static List<Resource> localRouteFiles(ModelCamelContext camel) throws IOException {
        try (Stream<Path> files = Files.list(Path.of("routes"))) {
            return files.filter(p -> p.getFileName().toString().matches("local-.*\\.camel\\.yaml")).sorted()
                    .map(p -> ResourceHelper.resolveResource(camel, "file:" + p)).toList();
        }
    }

    private static ApplicationContextRunner properties() {
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(ValidationAutoConfiguration.class))
                .withUserConfiguration(BindProperties.class);
    }

    /** The whole chain of messages, as the start-up failure report shows them. */
    private static String messages(Throwable failure) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = failure; t != null; t = t.getCause()) {
            all.append(t.getMessage()).append('\n');
            if (t instanceof org.springframework.boot.context.properties.bind.validation.BindValidationException b) {
                b.getValidationErrors().forEach(e -> all.append(e).append('\n'));
            }
        }
        return all.toString();
    }

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(CalsyncProperties.class)
    static class BindProperties {
    }
}
