package dev.calsync.autoconfigure;

import java.time.Clock;

import dev.calsync.api.AdminGrantsApi;
import dev.calsync.api.AdminNotificationsApi;
import dev.calsync.api.AdminReconcileApi;
import dev.calsync.api.AdminSummaryApi;
import dev.calsync.api.OpsPage;
import dev.calsync.api.ApiBodyGuard;
import dev.calsync.api.ApiTokenFilter;
import dev.calsync.api.AppEventsApi;
import dev.calsync.api.HttpErrors;
import dev.calsync.api.OpenApiDescription;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.CamelBeansConfig;
import dev.calsync.config.LocalSinkConfig;
import dev.calsync.config.NotificationDedupeConfig;
import dev.calsync.config.SyncMetrics;
import dev.calsync.config.WebhookHttpConfig;
import dev.calsync.config.WebhookListenerConfig;
import dev.calsync.grants.GrantStates;
import dev.calsync.health.RedisDedupeHealthIndicator;
import dev.calsync.inbound.EventCanonicalizer;
import dev.calsync.inbound.InboundPlanner;
import dev.calsync.inbound.SeriesOccurrences;
import dev.calsync.inbox.InboxWriter;
import dev.calsync.inbox.NotificationInbox;
import dev.calsync.inbox.NotificationRouting;
import dev.calsync.inbox.ProcessingPriority;
import dev.calsync.local.LocalEventStore;
import dev.calsync.logging.CalsyncMdc;
import dev.calsync.mapping.ClaimMappings;
import dev.calsync.mapping.SyncMappings;
import dev.calsync.metrics.BacklogMetrics;
import dev.calsync.nylas.GrantCircuits;
import dev.calsync.nylas.GrantRateLimit;
import dev.calsync.nylas.HonourRetryAfter;
import dev.calsync.nylas.NylasRequests;
import dev.calsync.outbound.AppChanges;
import dev.calsync.outbound.PushOutbox;
import dev.calsync.reconcile.ReconcileRetryAfter;
import dev.calsync.reconcile.ReconcileRuns;
import dev.calsync.reconcile.Reconciler;
import dev.calsync.shutdown.ClaimRelease;
import dev.calsync.webhook.AcceptingGate;
import dev.calsync.webhook.NotificationDecoder;
import dev.calsync.webhook.SignatureVerifier;
import dev.calsync.webhook.WebhookChallenge;
import dev.calsync.webhook.WebhookRequestGuard;
import org.apache.camel.spi.ThreadPoolProfile;
import org.apache.camel.builder.ThreadPoolProfileBuilder;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;

/**
 * calsync as a route bundle in any Camel Spring Boot application: its beans, its thread pools, its own Flyway history
 * and its route files ({@link CalsyncRoutesLoader}); its {@code calsync.*} defaults come from
 * {@link CalsyncEnvironment} (lowest precedence: the application's own settings win). It changes no application-wide setting; the standalone service
 * ({@link dev.calsync.CalsyncApplication}) adds those on top.
 */
@AutoConfiguration(afterName = {
        "org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration",
        "org.springframework.boot.autoconfigure.data.redis.RedisAutoConfiguration",
        "org.springframework.boot.actuate.autoconfigure.metrics.CompositeMeterRegistryAutoConfiguration"},
        beforeName = "org.apache.camel.spring.boot.CamelAutoConfiguration")
@EnableConfigurationProperties(CalsyncProperties.class)
@Import({CamelBeansConfig.class, LocalSinkConfig.class, NotificationDedupeConfig.class, WebhookHttpConfig.class, WebhookListenerConfig.class,
        SyncMetrics.class, CalsyncMdc.class, CalsyncDatabase.class, CalsyncRoutesLoader.class, CalsyncFilters.class,
        SignatureVerifier.class, NotificationDecoder.class, AcceptingGate.class, WebhookChallenge.class,
        WebhookRequestGuard.class, GrantStates.class, RedisDedupeHealthIndicator.class,
        AdminNotificationsApi.class, AdminGrantsApi.class, AdminSummaryApi.class, AdminReconcileApi.class, OpsPage.class,
        ApiBodyGuard.class, AppEventsApi.class, ApiTokenFilter.class,
        OpenApiDescription.class,
        HttpErrors.class, AppChanges.class, PushOutbox.class, EventCanonicalizer.class, SeriesOccurrences.class,
        InboundPlanner.class, ClaimMappings.class, SyncMappings.class, GrantRateLimit.class, HonourRetryAfter.class,
        GrantCircuits.class, NylasRequests.class, LocalEventStore.class, NotificationInbox.class,
        NotificationRouting.class, ProcessingPriority.class, InboxWriter.class, ReconcileRetryAfter.class,
        Reconciler.class, ReconcileRuns.class, BacklogMetrics.class, ClaimRelease.class})
public class CalsyncAutoConfiguration {

    /** The clock of calsync's own beans; a host's {@code Clock} beans stay as they are. */
    @Bean
    @ConditionalOnMissingBean(name = "calsyncClock")
    Clock calsyncClock() {
        return Clock.systemUTC();
    }

    /**
     * The threads that push application changes to Nylas (split in the push poll route, {@code executorService:
     * pushWorkers}), {@code calsync.push.workers} of them. Camel registers ThreadPoolProfile beans by their id.
     */
    @Bean
    @ConditionalOnMissingBean(name = "calsyncPushWorkersProfile")
    ThreadPoolProfile calsyncPushWorkersProfile(CalsyncProperties properties) {
        int workers = properties.push().workers();
        return new ThreadPoolProfileBuilder("pushWorkers").poolSize(workers).maxPoolSize(workers).maxQueueSize(-1)
                .build();
    }
}
