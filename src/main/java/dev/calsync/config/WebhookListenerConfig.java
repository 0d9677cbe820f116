package dev.calsync.config;

import dev.calsync.http.BodyReads;
import dev.calsync.webhook.AcceptingGate;
import dev.calsync.webhook.WebhookListener;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;
import org.apache.camel.component.platform.http.PlatformHttpComponent;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The webhook's own listener and the Camel component its route consumes ({@code webhook-listener:}). Both exist
 * even with {@code calsync.webhook.listener.enabled=false} (the route then runs, but nothing listens), so the route
 * files load the same either way.
 */
@Configuration(proxyBeanMethods = false)
public class WebhookListenerConfig {

    @Bean
    WebhookListener webhookListener(CamelContext camel, CalsyncProperties properties, AcceptingGate gate,
                                    SyncMetrics metrics, MeterRegistry registry) throws Exception {
        return new WebhookListener(camel, properties, gate, metrics, registry);
    }

    /** The bounds on request bodies being read on the application's HTTP port (the listener has its own). */
    @Bean
    BodyReads serverPortBodyReads(CalsyncProperties properties) {
        return new BodyReads(properties.http());
    }

    @Bean(WebhookListener.COMPONENT)
    PlatformHttpComponent webhookListenerComponent(WebhookListener webhookListener) {
        return webhookListener.component();
    }
}
