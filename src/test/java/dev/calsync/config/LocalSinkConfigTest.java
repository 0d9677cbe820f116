package dev.calsync.config;

import java.util.Set;

import org.apache.camel.CamelContext;
import org.apache.camel.Route;
import org.apache.camel.spi.HeaderFilterStrategy;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

/** The start-up check of the local routes, and the Kafka sink's header filter. */
class LocalSinkConfigTest {

    @Test
    void aStartWithoutLocalRoutesForTheChosenSinkFailsNamingThem() {
        CamelContext camel = mock(CamelContext.class);
        when(camel.resolvePropertyPlaceholders("{{calsync.local.sink:store}}")).thenReturn("http");
        when(camel.getRoute("calsync-local-delete")).thenReturn(mock(Route.class));

        assertThatThrownBy(() -> LocalSinkConfig.checkLocalRoutes(camel)).isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("calsync.local.sink is http but no route file defines calsync-local-upsert for it");
    }

    @Test
    void aStartWithBothLocalRoutesPasses() {
        CamelContext camel = mock(CamelContext.class);
        when(camel.getRoute("calsync-local-upsert")).thenReturn(mock(Route.class));
        when(camel.getRoute("calsync-local-delete")).thenReturn(mock(Route.class));

        assertThatCode(() -> LocalSinkConfig.checkLocalRoutes(camel)).doesNotThrowAnyException();
    }

    @Test
    void onlyTheChangeTypeAndTheIdempotencyKeyBecomeKafkaHeaders() {
        HeaderFilterStrategy filter = new LocalSinkConfig().kafkaSinkHeaderFilter();

        for (String kept : Set.of("calsync-change-type", "calsync-idempotency-key")) {
            assertThat(filter.applyFilterToCamelHeaders(kept, "x", null)).as(kept).isFalse();
        }
        for (String internal : Set.of("CalsyncRecordId", "CalsyncIdempotencyKey", "CalsyncClaim", "kafka.KEY",
                "CamelHttpMethod", "Idempotency-Key")) {
            assertThat(filter.applyFilterToCamelHeaders(internal, "x", null)).as(internal).isTrue();
        }
    }
}
