package dev.calsync.http;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;

/**
 * Reading a request body on the servlet side once, up front, capped in size and in time, and handing the exact bytes
 * on. Written by hand: Tomcat's read time-out applies to each read, not to the whole body, so a sender trickling a
 * few bytes at a time would otherwise hold a thread for as long as it likes.
 */
public final class ServletBodies {

    /** A body read whole, and its place in the port's bounds ({@link BodyReads.Read#answered} gives it back). */
    public record Accepted(byte[] bytes, BodyReads.Read read) {
    }

    /**
     * Reads a request's body once, under the port's bounds, at most {@code limit} bytes and whole within
     * {@code deadline}; or answers the refusal itself and returns null: 413 for a body over the limit (announced or
     * read), 503 with {@code Retry-After} when a bound is reached, 408 when too slow, each closing the connection
     * (the rest of the body is not read to be thrown away). {@code counted} hears {@code read-limit} and
     * {@code body-timeout}. The caller gives the place back once the request is answered ({@link #whenAnswered}).
     */
    public static Accepted accept(HttpServletRequest request, HttpServletResponse response, BodyReads reads,
                                  long limit, Duration deadline, Consumer<String> counted) throws IOException {
        long announced = request.getContentLengthLong();
        if (announced > limit) {
            refuse(response, 413, "payload_too_large", BodyReads.tooLarge(limit));
            return null;
        }
        BodyReads.Read read = reads.begin(request.getRemoteAddr(), BodyReads.isLarge(announced));
        if (read == null) {
            counted.accept("read-limit");
            response.setHeader("Retry-After", "1");
            refuse(response, 503, "unavailable", BodyReads.TOO_MANY);
            return null;
        }
        Body body;
        try {
            body = read(request.getInputStream(), limit, deadline);
        } catch (IOException | RuntimeException e) {
            read.answered();
            throw e;
        }
        read.bodyWhole();
        if (body.ok()) {
            return new Accepted(body.bytes(), read);
        }
        read.answered();
        if (body.problem() == Problem.TOO_LARGE) {
            refuse(response, 413, "payload_too_large", BodyReads.tooLarge(limit));
        } else {
            counted.accept("body-timeout");
            refuse(response, 408, "request_timeout", BodyReads.tooSlow(deadline));
        }
        return null;
    }

    /** A refusal whose connection is closed after the answer. */
    public static void refuse(HttpServletResponse response, int status, String code, String message)
            throws IOException {
        response.setHeader("Connection", "close");
        dev.calsync.api.ErrorResponses.write(response, status, code, message);
    }

    /**
     * Runs {@code done} once when the request is answered: at once, or when camel-platform-http's asynchronous cycle
     * ends (completed, timed out or failed).
     */
    public static void whenAnswered(HttpServletRequest request, Runnable done) {
        if (!request.isAsyncStarted()) {
            done.run();
            return;
        }
        AtomicBoolean ran = new AtomicBoolean();
        Runnable once = () -> {
            if (ran.compareAndSet(false, true)) {
                done.run();
            }
        };
        request.getAsyncContext().addListener(new AsyncListener() {
            @Override
            public void onComplete(AsyncEvent event) {
                once.run();
            }

            @Override
            public void onTimeout(AsyncEvent event) {
                once.run();
            }

            @Override
            public void onError(AsyncEvent event) {
                once.run();
            }

            @Override
            public void onStartAsync(AsyncEvent event) {
            }
        });
    }

    /** What reading gave: the body, or why there is none. */
    public record Body(byte[] bytes, Problem problem) {
        public boolean ok() {
            return problem == null;
        }
    }

    public enum Problem { TOO_LARGE, TOO_SLOW }

    private ServletBodies() {
    }

    /**
     * The body, at most {@code limit} bytes and whole within {@code deadline} of this call. A read blocked past
     * Tomcat's {@code connection-timeout} counts as too slow as well.
     */
    public static Body read(InputStream in, long limit, Duration deadline) throws IOException {
        long until = System.nanoTime() + deadline.toNanos();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        long total = 0;
        int n;
        try {
            while ((n = in.read(buffer)) != -1) {
                total += n;
                if (total > limit) {
                    return new Body(null, Problem.TOO_LARGE);
                }
                out.write(buffer, 0, n);
                if (System.nanoTime() > until) {
                    return new Body(null, Problem.TOO_SLOW);
                }
            }
        } catch (IOException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof SocketTimeoutException) {
                    return new Body(null, Problem.TOO_SLOW);
                }
            }
            throw e;
        }
        return new Body(out.toByteArray(), null);
    }

    /** The request with its body replaced by the bytes already read. */
    public static HttpServletRequest withBody(HttpServletRequest request, byte[] body) {
        return new CachedBodyRequest(request, body);
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
            Charset charset = getCharacterEncoding() == null ? StandardCharsets.UTF_8
                    : Charset.forName(getCharacterEncoding());
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
