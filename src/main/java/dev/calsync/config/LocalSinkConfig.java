package dev.calsync.config;

import java.util.List;
import java.util.Set;

import org.apache.camel.CamelContext;
import org.apache.camel.ExtendedStartupListener;
import org.apache.camel.support.DefaultHeaderFilterStrategy;
import org.springframework.beans.factory.BeanInitializationException;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The local sink ({@code calsync.local.sink}): where calendar changes go. The route files choose themselves by their
 * routes' precondition (decided as they are loaded); this checks that the choice left the sync its local routes, and
 * holds the Kafka sink's header filter.
 */
@Configuration(proxyBeanMethods = false)
public class LocalSinkConfig {

    /** The routes every sink must define ({@code local-upsert-batch} is optional). */
    static final List<String> REQUIRED_ROUTES = List.of("calsync-local-upsert", "calsync-local-delete");

    /**
     * Once Camel has started, {@link #checkLocalRoutes} (an exception there stops the start). Route preconditions are
     * decided as calsync's route files are loaded ({@link RoutePreconditions}, applied by
     * {@code CalsyncRoutesLoader}), so each local sink's file may define the same route ids.
     */
    @Bean
    static BeanPostProcessor localSinkRoutes() {
        return new BeanPostProcessor() {
            @Override
            public Object postProcessAfterInitialization(Object bean, String beanName) {
                if (bean instanceof CamelContext camel) {
                    try {
                        camel.addStartupListener(new ExtendedStartupListener() {
                            @Override
                            public void onCamelContextStarted(CamelContext context, boolean alreadyStarted) {
                            }

                            @Override
                            public void onCamelContextFullyStarted(CamelContext context, boolean alreadyStarted) {
                                checkLocalRoutes(context);
                            }
                        });
                    } catch (Exception e) {
                        throw new BeanInitializationException("the local routes' start-up check", e);
                    }
                }
                return bean;
            }
        };
    }

    /**
     * Headers of the Kafka sink's messages (routes/local-kafka.camel.yaml): only these two become Kafka headers, so
     * the sync's internal {@code Calsync*} headers stay in the process.
     */
    @Bean
    DefaultHeaderFilterStrategy kafkaSinkHeaderFilter() {
        DefaultHeaderFilterStrategy strategy = new DefaultHeaderFilterStrategy();
        strategy.setFilterOnMatch(false); // the names below are kept, every other header is left out
        strategy.setOutFilter(Set.of("calsync-change-type", "calsync-idempotency-key"));
        strategy.setInFilter(Set.of()); // the sink only sends
        return strategy;
    }

    /**
     * Fails start-up when no route file defines the local routes for the chosen sink (a replaced local-store file
     * whose routes carry another sink's precondition, say): every calendar change would fail otherwise.
     */
    static void checkLocalRoutes(CamelContext camel) {
        List<String> missing = REQUIRED_ROUTES.stream().filter(id -> camel.getRoute(id) == null).toList();
        if (!missing.isEmpty()) {
            throw new IllegalStateException("calsync.local.sink is "
                    + camel.resolvePropertyPlaceholders("{{calsync.local.sink:store}}") + " but no route file defines "
                    + String.join(" and ", missing) + " for it: the files in calsync.routes-dir must include one whose"
                    + " routes' precondition selects this sink (routes/local-store.camel.yaml, local-http.camel.yaml,"
                    + " local-kafka.camel.yaml)");
        }
    }
}
