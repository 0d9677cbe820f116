package dev.calsync.webhook;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.SyncMetrics;
import dev.calsync.api.ErrorResponses;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Guards the webhook POST before Camel sees it: at most {@code calsync.webhook.max-in-flight} requests at once (a
 * quick 503 with {@code Retry-After} beyond it, so a burst queues at Nylas rather than in this service's memory or
 * behind a slow database), only JSON bodies (415 otherwise) and at most {@code calsync.webhook.max-body-size} bytes
 * as received, with or without a Content-Length (413 otherwise).
 * <p>
 * Written by hand because camel-platform-http on Spring Boot reads the whole body with no size limit, and turns
 * form-encoded bodies into parameter maps; a servlet filter is the one place both can be stopped before any
 * memory is spent. The bytes read here are handed on unchanged, so the signature is still checked over the exact
 * raw body.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE + 10)
public class WebhookRequestGuard extends OncePerRequestFilter {

    static final String PATH = "/webhooks/nylas";

    private final long maxBodyBytes;
    private final int maxPermits;
    private final Semaphore inFlight;
    private final SyncMetrics metrics;

    public WebhookRequestGuard(CalsyncProperties properties, SyncMetrics metrics) {
        this.maxBodyBytes = properties.webhook().maxBodySize().toBytes();
        this.maxPermits = properties.webhook().maxInFlight();
        this.inFlight = new Semaphore(maxPermits);
        this.metrics = metrics;
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        return !("POST".equals(request.getMethod())
                && PATH.equals(dev.calsync.api.ApiTokenFilter.path(request)));
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!inFlight.tryAcquire()) {
            metrics.webhook("busy");
            response.setHeader("Retry-After", "1");
            ErrorResponses.write(response, 503, "unavailable", "too many notifications in flight; retry later");
            return;
        }
        Runnable release = releaseOnce();
        try {
            guarded(request, response, chain);
        } finally {
            if (request.isAsyncStarted()) {
                // camel-platform-http answers asynchronously: the request is in flight until the async cycle ends
                request.getAsyncContext().addListener(new AsyncListener() {
                    @Override
                    public void onComplete(AsyncEvent event) {
                        release.run();
                    }

                    @Override
                    public void onTimeout(AsyncEvent event) {
                        release.run();
                    }

                    @Override
                    public void onError(AsyncEvent event) {
                        release.run();
                    }

                    @Override
                    public void onStartAsync(AsyncEvent event) {
                    }
                });
            } else {
                release.run();
            }
        }
    }

    private Runnable releaseOnce() {
        AtomicBoolean released = new AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true)) {
                inFlight.release();
            }
        };
    }

    /** Requests in flight now (for tests and the gauge). */
    public int inFlight() {
        return maxPermits - inFlight.availablePermits();
    }

    private void guarded(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!isJson(request.getContentType())) {
            ErrorResponses.write(response, 415, "unsupported_media_type",
                    "Content-Type must be application/json");
            return;
        }
        if (request.getContentLengthLong() > maxBodyBytes) {
            ErrorResponses.write(response, 413, "payload_too_large", "body exceeds " + maxBodyBytes + " bytes");
            return;
        }
        byte[] body = readAtMost(request.getInputStream(), maxBodyBytes);
        if (body == null) {
            ErrorResponses.write(response, 413, "payload_too_large", "body exceeds " + maxBodyBytes + " bytes");
            return;
        }
        chain.doFilter(new CachedBodyRequest(request, body), response);
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

    /** The body, or null when it is longer than {@code limit}. */
    static byte[] readAtMost(InputStream in, long limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        long total = 0;
        int n;
        while ((n = in.read(buffer)) != -1) {
            total += n;
            if (total > limit) {
                return null;
            }
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    private static final class CachedBodyRequest extends HttpServletRequestWrapper {
        private final byte[] body;

        CachedBodyRequest(HttpServletRequest request, byte[] body) {
            super(request);
            this.body = body;
        }

        @Override
        public int getContentLength() {
            return body.length;
        }

        @Override
        public long getContentLengthLong() {
            return body.length;
        }

        @Override
        public java.io.BufferedReader getReader() {
            java.nio.charset.Charset charset = getCharacterEncoding() == null ? java.nio.charset.StandardCharsets.UTF_8
                    : java.nio.charset.Charset.forName(getCharacterEncoding());
            return new java.io.BufferedReader(new java.io.InputStreamReader(new ByteArrayInputStream(body), charset));
        }

        @Override
        public ServletInputStream getInputStream() {
            ByteArrayInputStream in = new ByteArrayInputStream(body);
            return new ServletInputStream() {
                @Override
                public int read() {
                    return in.read();
                }

                @Override
                public int read(byte[] b, int off, int len) {
                    return in.read(b, off, len);
                }

                @Override
                public boolean isFinished() {
                    return in.available() == 0;
                }

                @Override
                public boolean isReady() {
                    return true;
                }

                @Override
                public void setReadListener(ReadListener listener) {
                    throw new UnsupportedOperationException("synchronous reads only");
                }
            };
        }
    }
}
