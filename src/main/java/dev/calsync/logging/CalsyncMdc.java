package dev.calsync.logging;

import dev.calsync.CalsyncHeaders;
import dev.calsync.CalsyncVariables;
import org.apache.camel.AsyncCallback;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.NamedNode;
import org.apache.camel.Processor;
import org.apache.camel.model.ProcessorDefinition;
import org.apache.camel.model.ProcessorDefinitionHelper;
import org.apache.camel.model.RouteDefinition;
import org.apache.camel.spi.InterceptStrategy;
import org.apache.camel.support.processor.DelegateAsyncProcessor;
import org.slf4j.MDC;
import org.springframework.stereotype.Component;

/**
 * Puts calsync's ids into the logging MDC while a step of a calsync route runs, so every log line written during it
 * (by a route's {@code log} step, a bean, Camel or a library) carries them as fields of their own in structured
 * logging ({@code logging.structured.format.console}): see {@link #FIELDS}. Each id is the Camel variable of its
 * {@code Calsync*} name when there is one, else the message header of that name. The previous MDC values are put back
 * when the step returns, so nothing leaks into the next exchange the thread runs, nor into a host's own routes.
 * <p>
 * Hand-written, on Camel's own {@link InterceptStrategy} (the hook camel-mdc uses to wrap each step), because Camel's
 * MDC support ({@code camel.main.use-mdc-logging}, camel-mdc) puts headers under their own names and reads no
 * variables: it knows neither {@code calsync.notification_id} nor {@link dev.calsync.CalsyncVariables}. It reads
 * only the ids listed, never a credential, and wraps only the steps of routes whose id starts with {@code calsync-}:
 * a host's own routes and its logging are left as they are. Camel applies every {@link InterceptStrategy} bean to
 * the routes it builds.
 */
@Component("calsyncMdc")
public class CalsyncMdc implements InterceptStrategy {

    /** The MDC field and the variable or header it is read from, in this order. */
    static final String[][] FIELDS = {
            {"calsync.notification_id", CalsyncVariables.NOTIFICATION_ID},
            {"calsync.grant_id", CalsyncHeaders.GRANT_ID},
            {"calsync.event_id", CalsyncHeaders.EVENT_ID},
            {"calsync.record_id", CalsyncHeaders.RECORD_ID},
            {"calsync.run_id", CalsyncVariables.RUN_ID}};

    @Override
    public Processor wrapProcessorInInterceptors(CamelContext context, NamedNode definition, Processor target,
                                                 Processor nextTarget) {
        if (!(definition instanceof ProcessorDefinition<?> step) || !isCalsyncRoute(step)) {
            return target;
        }
        return new WithIds(target);
    }

    private static boolean isCalsyncRoute(ProcessorDefinition<?> step) {
        RouteDefinition route = ProcessorDefinitionHelper.getRoute(step);
        return route != null && route.getRouteId() != null && route.getRouteId().startsWith("calsync-");
    }

    /** Sets the exchange's ids; answers the values they replaced, to be given to {@link #restore}. */
    static String[] put(Exchange exchange) {
        String[] previous = new String[FIELDS.length];
        for (int i = 0; i < FIELDS.length; i++) {
            String field = FIELDS[i][0];
            previous[i] = MDC.get(field);
            String value = id(exchange, FIELDS[i][1]);
            if (value != null) {
                MDC.put(field, value);
            } else if (previous[i] != null) {
                MDC.remove(field);
            }
        }
        return previous;
    }

    static void restore(String[] previous) {
        for (int i = 0; i < FIELDS.length; i++) {
            if (previous[i] == null) {
                MDC.remove(FIELDS[i][0]);
            } else {
                MDC.put(FIELDS[i][0], previous[i]);
            }
        }
    }

    /** The variable of this name first (route-internal state moves there), else the header. */
    private static String id(Exchange exchange, String name) {
        Object value = exchange.getVariable(name);
        if (value == null) {
            value = exchange.getMessage().getHeader(name);
        }
        return value == null ? null : value.toString();
    }

    /**
     * A step of a calsync route, run with the exchange's ids in the MDC of the thread that runs it. A
     * {@link DelegateAsyncProcessor}, so the step is started and stopped with its route as before.
     */
    private static final class WithIds extends DelegateAsyncProcessor {

        WithIds(Processor step) {
            super(step);
        }

        @Override
        public boolean process(Exchange exchange, AsyncCallback callback) {
            String[] previous = put(exchange);
            try {
                return processor.process(exchange, callback);
            } finally {
                restore(previous);
            }
        }
    }
}
