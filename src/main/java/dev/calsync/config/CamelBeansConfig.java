package dev.calsync.config;

import org.apache.camel.http.base.HttpHeaderFilterStrategy;
import org.apache.camel.processor.errorhandler.RedeliveryPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

/** Beans the YAML routes refer to by name, and start-up checks of the configuration. */
@Configuration(proxyBeanMethods = false)
public class CamelBeansConfig {

    private static final Logger LOG = LoggerFactory.getLogger(CamelBeansConfig.class);

    /**
     * Header filter of outgoing HTTP calls (Nylas API, application callback): the standard one, plus every
     * internal {@code Calsync*} header, so route state never leaves the process as request headers.
     */
    @Bean
    HttpHeaderFilterStrategy outboundHeaderFilter() {
        HttpHeaderFilterStrategy strategy = new HttpHeaderFilterStrategy();
        strategy.setOutFilterStartsWith("Camel", "camel", "Calsync", "calsync", "org.apache.camel");
        // and an answer's headers never overwrite route state
        strategy.setInFilterStartsWith("Camel", "camel", "Calsync", "calsync", "org.apache.camel");
        return strategy;
    }

    /** Redelivery of Nylas calls that may succeed later (429, 5xx, time-outs): exponential backoff with jitter. */
    @Bean
    RedeliveryPolicy pushRedeliveryPolicy(CalsyncProperties properties) {
        CalsyncProperties.Push push = properties.push();
        return backoff(push.maxRedeliveries(), push.redeliveryDelayMillis(), push.maxRedeliveryDelayMillis());
    }

    /**
     * Retries of a reconciliation run's Nylas calls: {@code calsync.reconcile.call-attempts} in all, exponential
     * backoff with jitter up to {@code calsync.reconcile.max-retry-delay} (a Retry-After replaces the next delay).
     */
    @Bean
    RedeliveryPolicy reconcileRedeliveryPolicy(CalsyncProperties properties) {
        CalsyncProperties.Reconcile reconcile = properties.reconcile();
        return backoff(reconcile.callAttempts() - 1, 1_000, reconcile.maxRetryDelay().toMillis());
    }

    private static RedeliveryPolicy backoff(int redeliveries, long firstDelayMillis, long maxDelayMillis) {
        RedeliveryPolicy policy = new RedeliveryPolicy();
        policy.setMaximumRedeliveries(redeliveries);
        policy.setRedeliveryDelay(firstDelayMillis);
        policy.setMaximumRedeliveryDelay(maxDelayMillis);
        policy.setUseExponentialBackOff(true);
        policy.setBackOffMultiplier(2);
        policy.setUseCollisionAvoidance(true);
        policy.setRetryAttemptedLogLevel(org.apache.camel.LoggingLevel.WARN);
        policy.setLogStackTrace(false);
        return policy;
    }

    @EventListener(ApplicationReadyEvent.class)
    void warnAboutMissingSecrets(ApplicationReadyEvent event) {
        CalsyncProperties p = event.getApplicationContext().getBean(CalsyncProperties.class);
        if (p.webhook().secrets().isEmpty()) {
            LOG.warn("NYLAS_WEBHOOK_SECRET is not set: every webhook notification will be refused with 401");
        }
        if (p.api().token().isEmpty()) {
            LOG.warn("APP_API_TOKEN is not set: the application API refuses every request with 401");
        }
        if (p.nylas().apiKey().isEmpty()) {
            LOG.warn("NYLAS_API_KEY is not set: calls to the Nylas API will be refused");
        }
    }
}
