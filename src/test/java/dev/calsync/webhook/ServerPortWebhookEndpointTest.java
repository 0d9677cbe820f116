package dev.calsync.webhook;

import java.net.URI;

/** The webhook's contract on the application's HTTP port, {@code server.port}, where it was before the listener. */
class ServerPortWebhookEndpointTest extends WebhookEndpointContract {

    @Override
    protected URI webhookUrl(String query) {
        return url("/webhooks/nylas" + query);
    }
}
