package dev.calsync.routes;

import java.util.LinkedHashMap;
import java.util.Map;

import dev.calsync.support.IntegrationTest;
import org.apache.camel.builder.AdviceWith;
import org.apache.camel.component.mock.MockEndpoint;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An example to copy next to your own edits of {@code calsync-local-upsert}, the route every calendar change is
 * written through: Camel's {@code AdviceWith} replaces one step of the route (here the built-in store's write, step
 * {@code store-upsert}) with a mock endpoint, a record in the route's contract (top of local-store.camel.yaml) is
 * sent to it, and the test checks what reached the step. Point the mock at the step your edit calls your system
 * from. A property of its own ({@code @TestPropertySource}) gives the test a service of its own: the advised route
 * must not serve the other tests.
 */
@TestPropertySource(properties = "calsync.example.advised-route=calsync-local-upsert")
class LocalUpsertAdviceWithExampleTest extends IntegrationTest {

    @Test
    void aRecordReachesTheSinksStepInTheNylasShapeWithItsIdempotencyKey() throws Exception {
        AdviceWith.adviceWith(camel, "calsync-local-upsert", route -> route.weaveById("store-upsert").replace()
                .to("mock:my-system").setVariable("written", route.constant(true)));
        MockEndpoint mySystem = camel.getEndpoint("mock:my-system", MockEndpoint.class);
        mySystem.expectedMessageCount(1);
        mySystem.expectedHeaderReceived("CalsyncIdempotencyKey", "ntf-1:upsert");

        Map<String, Object> record = new LinkedHashMap<>();
        record.put("id", "rec-advice");
        record.put("grant_id", "grant-advice");
        record.put("calendar_id", "primary");
        record.put("title", "Board meeting");
        record.put("when", Map.of("start_time", 1_900_000_000L, "end_time", 1_900_003_600L));
        camel.createProducerTemplate().sendBodyAndHeaders("direct:calsync-local-upsert", record,
                Map.of("CalsyncRecordId", "rec-advice", "CalsyncIdempotencyKey", "ntf-1:upsert"));

        mySystem.assertIsSatisfied();
        Map<String, Object> received = mySystem.getExchanges().get(0).getMessage().getBody(Map.class);
        assertThat(received).containsEntry("title", "Board meeting").containsEntry("grant_id", "grant-advice");
        assertThat(count("SELECT count(*) FROM app_event WHERE id = 'rec-advice'")).as("the replaced step wrote nothing")
                .isZero();
    }
}
