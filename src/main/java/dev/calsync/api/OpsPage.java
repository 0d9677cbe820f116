package dev.calsync.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.springframework.stereotype.Component;

/**
 * The operator page's files ({@code classpath:calsync/ops/}), served by route {@code calsync-ops-page} at
 * {@code {base-path}/ops/}. Only the files named here are served (no path from the request reaches the class
 * loader), with a Content-Security-Policy that allows the page's own script and style and nothing inline, so data
 * shown by the page can never run as code. A Camel route rather than Spring MVC static resources, so a host
 * application's own static resource handling is left as it is.
 */
@Component("opsPage")
public class OpsPage {

    static final String CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static final Map<String, String> FILES = Map.of(
            "index.html", "text/html; charset=utf-8",
            "ops.js", "text/javascript; charset=utf-8",
            "ops.css", "text/css; charset=utf-8");

    public void serve(Exchange exchange) {
        Message message = exchange.getMessage();
        // the request's path ends in /ops, /ops/ or /ops/<file>: whatever comes before (context path, base path) is
        // the host's and calsync's business, and is left as it is
        String uri = message.getHeader(Exchange.HTTP_URI, "", String.class);
        int query = uri.indexOf('?');
        String path = query < 0 ? uri : uri.substring(0, query);
        message.getHeaders().clear(); // nothing of the request is echoed back
        if (path.endsWith("/ops")) {
            // the page's relative links need the trailing slash
            message.setHeader(Exchange.HTTP_RESPONSE_CODE, 301);
            message.setHeader("Location", "ops/");
            message.setBody(null);
            return;
        }
        int slash = path.lastIndexOf('/');
        String file = path.substring(slash + 1);
        if (file.isEmpty()) {
            file = "index.html";
        }
        if (!path.substring(0, slash).endsWith("/ops")) {
            file = ""; // a path below a folder of /ops/: none is served
        }
        String type = FILES.get(file);
        if (type == null) {
            throw new Rejection(404, "not_found", "no such file on the operator page");
        }
        message.setHeader(Exchange.HTTP_RESPONSE_CODE, 200);
        message.setHeader(Exchange.CONTENT_TYPE, type);
        message.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
        message.setHeader("X-Content-Type-Options", "nosniff");
        message.setHeader("Referrer-Policy", "no-referrer");
        message.setHeader("Cache-Control", "no-cache");
        message.setBody(read(file));
    }

    private static byte[] read(String file) {
        try (InputStream in = OpsPage.class.getResourceAsStream("/calsync/ops/" + file)) {
            if (in == null) {
                throw new IllegalStateException("calsync/ops/" + file + " is missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
