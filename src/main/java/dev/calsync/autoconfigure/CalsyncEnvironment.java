package dev.calsync.autoconfigure;

import java.io.IOException;
import java.io.UncheckedIOException;

import dev.calsync.CalsyncApplication;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.env.EnvironmentPostProcessor;
import org.springframework.boot.env.YamlPropertySourceLoader;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.io.ClassPathResource;

/**
 * calsync's defaults, as the lowest-precedence property sources, so every setting of the application (its own YAML,
 * environment variables, command line) wins:
 * <ul>
 *   <li>{@code calsync/calsync-defaults.yaml}: the {@code calsync.*} properties the routes read as placeholders, in
 *       every application calsync runs in;</li>
 *   <li>{@code calsync/calsync-standalone.yaml}: the application-wide settings of the standalone service (server,
 *       Camel, actuator, logging), only when {@link CalsyncApplication} is the application: a host application's
 *       own settings are never changed; with the {@code dev} profile {@code calsync/calsync-standalone-dev.yaml}
 *       before it (route reload, the Camel CLI connector).</li>
 * </ul>
 * An environment post-processor rather than {@code @PropertySource}, so that logging and the other early settings
 * apply too.
 */
public class CalsyncEnvironment implements EnvironmentPostProcessor {

    static final String DEFAULTS = "calsync/calsync-defaults.yaml";
    static final String STANDALONE = "calsync/calsync-standalone.yaml";
    /** Route reload and the Camel CLI connector, for route editors ({@code --spring.profiles.active=dev}). */
    static final String STANDALONE_DEV = "calsync/calsync-standalone-dev.yaml";
    static final String DEV_PROFILE = "dev";

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        if (application.getAllSources().contains(CalsyncApplication.class)) {
            if (environment.matchesProfiles(DEV_PROFILE)) {
                addLast(environment, STANDALONE_DEV);
            }
            addLast(environment, STANDALONE);
        }
        addLast(environment, DEFAULTS);
    }

    private static void addLast(ConfigurableEnvironment environment, String path) {
        if (environment.getPropertySources().contains(path)) {
            return;
        }
        try {
            new YamlPropertySourceLoader().load(path, new ClassPathResource(path, CalsyncEnvironment.class.getClassLoader()))
                    .forEach(source -> environment.getPropertySources().addLast(source));
        } catch (IOException e) {
            throw new UncheckedIOException("calsync's " + path + " could not be read", e);
        }
    }
}
