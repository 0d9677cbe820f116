package dev.calsync.api;

import java.io.IOException;
import java.time.Duration;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.http.BodyReads;
import dev.calsync.http.CalsyncPaths;
import dev.calsync.http.ServletBodies;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * The application and admin APIs' request bodies, read once after the token is checked: at most
 * {@code calsync.api.max-body-size} (413), whole within {@code calsync.http.body-read-timeout} (408, connection
 * closed), within the server's bounds on bodies being read ({@link BodyReads}: 503 with {@code Retry-After}). The
 * bytes read are handed on unchanged. A filter for the same reason as the webhook's guard: camel-platform-http reads a
 * body with no size or time limit.
 */
@Component("apiBodyGuard")
@Order(Ordered.HIGHEST_PRECEDENCE + 30)
public class ApiBodyGuard extends OncePerRequestFilter {

    private final long maxBodyBytes;
    private final Duration bodyReadTimeout;
    private final BodyReads reads;
    private final CalsyncPaths paths;

    public ApiBodyGuard(CalsyncProperties properties, BodyReads serverPortBodyReads) {
        this.paths = CalsyncPaths.of(properties);
        this.maxBodyBytes = properties.api().maxBodySize().toBytes();
        this.bodyReadTimeout = properties.http().bodyReadTimeout();
        this.reads = serverPortBodyReads;
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        String method = request.getMethod();
        boolean mayHaveBody = "POST".equals(method) || "PUT".equals(method) || "PATCH".equals(method);
        return !(mayHaveBody && paths.isApi(ApiTokenFilter.path(request)));
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        ServletBodies.Accepted body = ServletBodies.accept(request, response, reads, maxBodyBytes, bodyReadTimeout,
                counted -> { });
        if (body == null) {
            return;
        }
        try {
            chain.doFilter(ServletBodies.withBody(request, body.bytes()), response);
        } finally {
            // camel-platform-http answers asynchronously: the body is held until the answer is out
            ServletBodies.whenAnswered(request, body.read()::answered);
        }
    }
}
