package dev.calsync.webhook;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.SyncMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import jakarta.servlet.FilterChain;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The webhook's guard bounds the requests in flight: beyond the bound, a quick 503 that Nylas retries. */
class WebhookRequestGuardTest {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private WebhookRequestGuard guard(int maxInFlight) {
        CalsyncProperties properties = new Binder(new MapConfigurationPropertySource(
                Map.of("calsync.webhook.max-in-flight", String.valueOf(maxInFlight))))
                .bindOrCreate("calsync", CalsyncProperties.class);
        return new WebhookRequestGuard(properties, new SyncMetrics(registry),
                new dev.calsync.http.BodyReads(properties.http()));
    }

    private static MockHttpServletRequest notification() {
        MockHttpServletRequest request = new MockHttpServletRequest("POST", "/webhooks/nylas");
        request.setContentType("application/json");
        request.setContent("{\"id\":\"n-1\"}".getBytes(StandardCharsets.UTF_8));
        return request;
    }

    @Test
    void aRequestBeyondTheBoundIsAnswered503AtOnceAndTheNextOneAfterAnAnswerGetsThrough() throws Exception {
        WebhookRequestGuard guard = guard(1);
        CountDownLatch storing = new CountDownLatch(1);
        FilterChain slowStore = (request, response) -> {
            try {
                storing.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ((jakarta.servlet.http.HttpServletResponse) response).setStatus(200);
        };
        MockHttpServletResponse first = new MockHttpServletResponse();
        CompletableFuture<Void> inFlight = CompletableFuture.runAsync(() -> {
            try {
                guard.doFilter(notification(), first, slowStore);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(java.time.Duration.ofSeconds(5)).until(() -> guard.inFlight() == 1);

        MockHttpServletResponse refused = new MockHttpServletResponse();
        boolean[] reachedTheRoute = {false};
        guard.doFilter(notification(), refused, (request, response) -> reachedTheRoute[0] = true);

        assertThat(refused.getStatus()).isEqualTo(503);
        assertThat(refused.getHeader("Retry-After")).isEqualTo("1");
        assertThat(refused.getContentAsString()).contains("\"error\":\"unavailable\"");
        assertThat(reachedTheRoute[0]).isFalse();
        assertThat(registry.counter("calsync.webhook.notifications", "result", "busy").count()).isEqualTo(1);

        storing.countDown();
        inFlight.get(5, TimeUnit.SECONDS);
        assertThat(first.getStatus()).isEqualTo(200);
        assertThat(guard.inFlight()).isZero();

        MockHttpServletResponse next = new MockHttpServletResponse();
        guard.doFilter(notification(), next, (request, response) -> reachedTheRoute[0] = true);
        assertThat(reachedTheRoute[0]).isTrue();
    }

    @Test
    void refusedBodiesGiveTheirPlaceBack() throws Exception {
        WebhookRequestGuard guard = guard(1);
        MockHttpServletRequest form = notification();
        form.setContentType("application/x-www-form-urlencoded");
        MockHttpServletResponse response = new MockHttpServletResponse();

        guard.doFilter(form, response, (request, r) -> { });

        assertThat(response.getStatus()).isEqualTo(415);
        assertThat(guard.inFlight()).isZero();
    }

    @Test
    void jsonContentTypesAreRecognisedWithAndWithoutParameters() {
        assertThat(WebhookRequestGuard.isJson("application/json")).isTrue();
        assertThat(WebhookRequestGuard.isJson("Application/JSON; charset=utf-8")).isTrue();
        assertThat(WebhookRequestGuard.isJson("application/json;charset=UTF-8")).isTrue();
        assertThat(WebhookRequestGuard.isJson("application/cloudevents+json")).isTrue();
        assertThat(WebhookRequestGuard.isJson("application/jsonx")).isFalse();
        assertThat(WebhookRequestGuard.isJson("text/plain")).isFalse();
        assertThat(WebhookRequestGuard.isJson(null)).isFalse();
    }
}
