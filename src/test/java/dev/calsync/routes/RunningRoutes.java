package dev.calsync.routes;

import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.apache.camel.CamelContext;
import org.apache.camel.Route;
import org.apache.camel.model.ExpressionNode;
import org.apache.camel.model.ModelCamelContext;
import org.apache.camel.model.ProcessorDefinition;
import org.apache.camel.model.ProcessorDefinitionHelper;
import org.apache.camel.model.RouteDefinition;
import org.apache.camel.model.SendDefinition;
import org.apache.camel.model.ToDynamicDefinition;

/** The {@code direct:} endpoints the routes of a running context call and consume. */
public final class RunningRoutes {

    private RunningRoutes() {
    }

    /** The {@code direct:} endpoints a running route calls (to, wire tap, enrich) that no running route consumes. */
    public static Set<String> callsWithoutConsumer(CamelContext camel) {
        Set<String> called = new TreeSet<>();
        ModelCamelContext model = (ModelCamelContext) camel;
        for (Route route : camel.getRoutes()) {
            RouteDefinition definition = model.getRouteDefinition(route.getRouteId());
            for (ProcessorDefinition<?> node : ProcessorDefinitionHelper.filterTypeInOutputs(
                    definition.getOutputs(), ProcessorDefinition.class)) {
                String uri = null;
                if (node instanceof SendDefinition<?> send) {
                    uri = send.getEndpointUri();
                } else if (node instanceof ToDynamicDefinition dynamic) {
                    uri = dynamic.getUri();
                } else if (node instanceof ExpressionNode expression && expression.getExpression() != null) {
                    uri = expression.getExpression().getExpression();
                }
                if (uri != null && uri.startsWith("direct:")) {
                    called.add(name(uri));
                }
            }
        }
        called.removeAll(consumed(camel));
        return called;
    }

    /** The {@code direct:} endpoints running routes consume. */
    public static Set<String> consumed(CamelContext camel) {
        return camel.getRoutes().stream().map(r -> r.getEndpoint().getEndpointUri())
                .filter(uri -> uri.startsWith("direct:")).map(RunningRoutes::name)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static String name(String uri) {
        String name = uri.substring("direct:".length());
        if (name.startsWith("//")) {
            name = name.substring(2);
        }
        int query = name.indexOf('?');
        return query < 0 ? name : name.substring(0, query);
    }
}
