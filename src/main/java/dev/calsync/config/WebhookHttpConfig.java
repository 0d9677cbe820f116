package dev.calsync.config;

import dev.calsync.http.CalsyncPaths;
import io.micrometer.observation.ObservationPredicate;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.server.observation.ServerRequestObservationContext;

/** How the web server treats the webhook path. */
@Configuration(proxyBeanMethods = false)
public class WebhookHttpConfig {

    /**
     * No {@code http.server.requests} observation for {@code /webhooks/nylas} (the POSTs and the rare challenge GET):
     * starting and stopping it (with its
     * long-task timer) cost about a seventh of a webhook request's CPU under load, and the webhook has metrics of its
     * own: {@code calsync.webhook.notifications{result}} and the {@code calsync-nylas-webhook} route's timer.
     */
    @Bean
    ObservationPredicate noWebhookRequestObservation(CalsyncProperties properties) {
        String webhook = CalsyncPaths.of(properties).webhook();
        return (name, context) -> !(context instanceof ServerRequestObservationContext request
                && webhook.equals(request.getCarrier().getRequestURI()));
    }
}
