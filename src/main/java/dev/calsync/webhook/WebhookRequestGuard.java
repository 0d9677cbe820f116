package dev.calsync.webhook;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Semaphore;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.SyncMetrics;
import dev.calsync.api.ErrorResponses;
import dev.calsync.http.BodyReads;
import dev.calsync.http.CalsyncPaths;
import dev.calsync.http.ServletBodies;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Guards the webhook POST on the application's HTTP port before Camel sees it: only JSON bodies (415 otherwise), at
 * most {@code calsync.webhook.max-body-size} bytes as received, with or without a Content-Length (413 otherwise),
 * whole within {@code calsync.http.body-read-timeout} (408, connection closed), within the server's bounds on bodies
 * being read ({@link BodyReads}: 503 with {@code Retry-After}); then, once the body is whole, at most
 * {@code calsync.webhook.max-in-flight} notifications being stored at once (a quick 503 with {@code Retry-After}
 * beyond it, so a burst queues at Nylas rather than in this service's memory or behind a slow database). A body still
 * arriving never takes the room of one being stored.
 * <p>
 * Written by hand because camel-platform-http on Spring Boot reads the whole body with no size or time limit, and
 * turns form-encoded bodies into parameter maps; a servlet filter is the one place all of it can be stopped before
 * any memory is spent. The bytes read here are handed on unchanged, so the signature is still checked over the exact
 * raw body.
 */
@Component("webhookRequestGuard")
@Order(Ordered.HIGHEST_PRECEDENCE + 10)
public class WebhookRequestGuard extends OncePerRequestFilter {

    private final long maxBodyBytes;
    private final Duration bodyReadTimeout;
    private final int maxPermits;
    private final Semaphore inFlight;
    private final BodyReads reads;
    private final SyncMetrics metrics;
    private final CalsyncPaths paths;

    public WebhookRequestGuard(CalsyncProperties properties, SyncMetrics metrics, BodyReads serverPortBodyReads) {
        this.paths = CalsyncPaths.of(properties);
        this.maxBodyBytes = properties.webhook().maxBodySize().toBytes();
        this.bodyReadTimeout = properties.http().bodyReadTimeout();
        this.maxPermits = properties.webhook().maxInFlight();
        this.inFlight = new Semaphore(maxPermits);
        this.reads = serverPortBodyReads;
        this.metrics = metrics;
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        return !("POST".equals(request.getMethod())
                && paths.isWebhook(dev.calsync.api.ApiTokenFilter.path(request)));
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!isJson(request.getContentType())) {
            ServletBodies.refuse(response, 415, "unsupported_media_type", "Content-Type must be application/json");
            return;
        }
        ServletBodies.Accepted body = ServletBodies.accept(request, response, reads, maxBodyBytes, bodyReadTimeout,
                metrics::webhook);
        if (body == null) {
            return;
        }
        // only now, with the body whole, does the request take a place among the notifications being stored
        if (!inFlight.tryAcquire()) {
            body.read().answered();
            metrics.webhook("busy");
            response.setHeader("Retry-After", "1");
            ErrorResponses.write(response, 503, "unavailable", "too many notifications in flight; retry later");
            return;
        }
        try {
            chain.doFilter(ServletBodies.withBody(request, body.bytes()), response);
        } finally {
            ServletBodies.whenAnswered(request, () -> {
                inFlight.release();
                body.read().answered();
            });
        }
    }

    /** Requests in flight now (for tests and the gauge). */
    public int inFlight() {
        return maxPermits - inFlight.availablePermits();
    }

    public static boolean isJson(String contentType) {
        if (contentType == null) {
            return false;
        }
        // the common spellings without parsing (a measurable share of the request's CPU otherwise)
        if (contentType.regionMatches(true, 0, "application/json", 0, 16)
                && (contentType.length() == 16 || contentType.charAt(16) == ';' || contentType.charAt(16) == ' ')) {
            return true;
        }
        try {
            MediaType type = MediaType.parseMediaType(contentType);
            return MediaType.APPLICATION_JSON.includes(type)
                    || ("application".equals(type.getType()) && type.getSubtype().endsWith("+json"));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
