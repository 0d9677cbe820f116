package dev.calsync.config;

import java.util.function.Function;

import org.apache.camel.CamelContext;
import org.apache.camel.Predicate;
import org.apache.camel.model.Model;
import org.apache.camel.model.RouteDefinition;
import org.apache.camel.model.language.SimpleExpression;
import org.apache.camel.support.DefaultExchange;

/**
 * Route preconditions decided as routes are added, so that several files may define one route id for different
 * settings (the local sinks: routes/local-store.camel.yaml, local-http.camel.yaml and local-kafka.camel.yaml each
 * define {@code local-upsert}, each with its own {@code precondition}).
 * <p>
 * Camel evaluates a route's precondition only when it starts its routes, after it has collected them: by then a
 * second definition of an id has replaced the first (or start-up has failed on the duplicate id), whatever the two
 * preconditions say. A route filter runs before both, so here a route whose precondition is false is left out as it
 * is added, as if its file did not define it. The precondition is evaluated as Camel does (a simple predicate, with
 * property placeholders); a route without one is kept; a filter already set (camel.main.route-filter-*-pattern) still
 * applies.
 */
public final class RoutePreconditions {

    private RoutePreconditions() {
    }

    /** Installs the filter on the context's model; routes added from then on are filtered. */
    public static void install(CamelContext camel) {
        Model model = camel.getCamelContextExtension().getContextPlugin(Model.class);
        Function<RouteDefinition, Boolean> previous = model.getRouteFilter();
        model.setRouteFilter(route -> (previous == null || previous.apply(route)) && included(camel, route));
    }

    /** Whether the route's precondition (if any) holds. */
    public static boolean included(CamelContext camel, RouteDefinition route) {
        String precondition = route.getPrecondition();
        if (precondition == null || precondition.isBlank()) {
            return true;
        }
        SimpleExpression expression = new SimpleExpression(precondition);
        expression.initPredicate(camel);
        Predicate predicate = expression.getPredicate();
        predicate.initPredicate(camel);
        return predicate.matches(new DefaultExchange(camel));
    }
}
