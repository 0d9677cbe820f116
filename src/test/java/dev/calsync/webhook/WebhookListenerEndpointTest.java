package dev.calsync.webhook;

/** The webhook's contract on its own listener, {@code calsync.webhook.listener.port}. */
class WebhookListenerEndpointTest extends WebhookEndpointContract {
}
