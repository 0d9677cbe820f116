package dev.calsync.http;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;

/**
 * Reading a request body on the servlet side once, up front, capped in size and in time, and handing the exact bytes
 * on. Written by hand: Tomcat's read time-out applies to each read, not to the whole body, so a sender trickling a
 * few bytes at a time would otherwise hold a thread for as long as it likes.
 */
public final class ServletBodies {

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
