package dev.calsync.api;

import java.sql.SQLException;

import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.stereotype.Component;

/**
 * Renders a failure at an HTTP edge as a status code and {@code {"error","message"}}, with no request header echoed
 * back and no stack trace. Used by the {@code calsync-webhook-errors} and {@code calsync-api-errors} route
 * configurations.
 */
@Component("httpErrors")
public class HttpErrors {

    private static final Logger LOG = LoggerFactory.getLogger(HttpErrors.class);

    /** Webhook: a refusal keeps its status; anything else is 503 so Nylas delivers the notification again. */
    public void webhook(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        if (error instanceof Rejection r) {
            LOG.info("Webhook refused with {}: {}", r.getStatus(), r.getMessage());
            respond(exchange, r.getStatus(), r.getCode(), r.getMessage());
            return;
        }
        LOG.error("Webhook notification not stored; answering 503 so Nylas retries", error);
        respond(exchange, 503, "unavailable", "the notification could not be stored; retry later");
    }

    /** Application and admin APIs: refusals keep their status, storage outages are 503, the rest 500. */
    public void api(Exchange exchange) {
        Throwable error = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Throwable.class);
        if (error instanceof dev.calsync.outbound.AppChanges.InvalidEvent invalid) {
            respond(exchange, 400, invalid.getCode(), invalid.getMessage());
            exchange.getMessage().setBody(ErrorResponses.body(invalid.getCode(), invalid.getMessage(),
                    invalid.getFields()));
        } else if (error instanceof Rejection r) {
            respond(exchange, r.getStatus(), r.getCode(), r.getMessage());
        } else if (isStorageOutage(error)) {
            LOG.error("API request failed: storage unavailable", error);
            respond(exchange, 503, "unavailable", "storage is unavailable; retry later");
        } else {
            LOG.error("API request failed", error);
            respond(exchange, 500, "internal_error", "the request failed; see the service log");
        }
    }

    static boolean isStorageOutage(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof SQLException || t instanceof DataAccessException) {
                return true;
            }
        }
        return false;
    }

    private static void respond(Exchange exchange, int status, String code, String message) {
        Message m = exchange.getMessage();
        m.removeHeaders("*");
        m.setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        m.setHeader(Exchange.CONTENT_TYPE, "application/json");
        if (status == 503) {
            m.setHeader("Retry-After", "1"); // not stored (or storage unavailable): try again
        }
        m.setBody(ErrorResponses.body(code, message));
    }
}
