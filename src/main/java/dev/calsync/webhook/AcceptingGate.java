package dev.calsync.webhook;

import java.io.IOException;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import dev.calsync.api.ApiTokenFilter;
import dev.calsync.api.ErrorResponses;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.http.CalsyncPaths;
import org.apache.camel.CamelContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Answers {@code 503} (with {@code Retry-After}) on the webhook and API paths while the routes behind them are not
 * running: during start-up, the web server accepts connections before Camel has started the routes (Spring MVC would
 * answer {@code 404}/{@code 405}, which Nylas does not retry, and the notification would be lost), and from the moment
 * the application begins to close, before any route stops.
 * <p>
 * A filter of our own because the window lies between two lifecycles (the web server's and Camel's) that no library
 * component spans: Spring Boot's readiness state only tells probes, it does not answer requests.
 */
@Component("acceptingGate")
@Order(Ordered.HIGHEST_PRECEDENCE + 5)
public class AcceptingGate extends OncePerRequestFilter {

    private static final Logger LOG = LoggerFactory.getLogger(AcceptingGate.class);

    private final CamelContext camel;
    private final CalsyncPaths paths;
    private volatile boolean closing;

    public AcceptingGate(CamelContext camel, CalsyncProperties properties) {
        this.camel = camel;
        this.paths = CalsyncPaths.of(properties);
    }

    /** True while the routes serving HTTP run and the application is not closing. */
    public boolean accepting() {
        return !closing && camel.getStatus().isStarted();
    }

    /** True from the moment the application begins to close. */
    public boolean closing() {
        return closing;
    }

    /** Why a request is turned away while the service is not accepting. */
    public String refusal() {
        return closing ? "the service is shutting down; retry later" : "the service is starting; retry later";
    }

    @EventListener(ContextClosedEvent.class)
    void close() {
        if (!closing) {
            closing = true;
            LOG.info("Closing: webhook and API requests are answered 503 from now on");
        }
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        String path = ApiTokenFilter.path(request);
        return !(paths.isWebhook(path) || paths.isApi(path));
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!accepting()) {
            response.setHeader("Retry-After", "1");
            ErrorResponses.write(response, 503, "unavailable", refusal());
            return;
        }
        chain.doFilter(request, response);
    }
}
