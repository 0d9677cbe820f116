package dev.calsync.routes;

import java.time.Instant;
import java.util.Map;

import dev.calsync.support.IntegrationTest;
import org.apache.camel.builder.AdviceWith;
import org.apache.camel.component.mock.MockEndpoint;
import org.junit.jupiter.api.Test;
import org.springframework.test.context.TestPropertySource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An example to copy next to your own edits of {@code calsync-local-upsert}, the route every calendar change is
 * written through: Camel's {@code AdviceWith} replaces one step of the running route (here the built-in store's
 * write, step {@code store-upsert}) with a mock endpoint, a calendar change goes through the whole service, and the
 * test checks what reached the step. Point the mock at the step your edit calls your system from.
 * A property of its own ({@code @TestPropertySource}) gives the test a service of its own: the advised route must
 * not serve the other tests.
 */
@TestPropertySource(properties = "calsync.example.advised-route=calsync-local-upsert")
class LocalUpsertAdviceWithExampleTest extends IntegrationTest {

    @Test
    void aCalendarChangeReachesTheSinksStepAsOneRecordInTheNylasShape() throws Exception {
        AdviceWith.adviceWith(camel, "calsync-local-upsert", route -> route.weaveById("store-upsert").replace()
                .to("mock:my-system").setVariable("written", route.constant(true)));
        MockEndpoint mySystem = camel.getEndpoint("mock:my-system", MockEndpoint.class);
        mySystem.expectedMessageCount(1);

        long start = Instant.now().getEpochSecond() + 86_400;
        NYLAS.userCreates("grant-advice", "primary", Map.of("title", "Board meeting",
                "when", Map.of("start_time", start, "end_time", start + 3600)));

        mySystem.assertIsSatisfied(20_000);
        Map<String, Object> record = mySystem.getExchanges().get(0).getMessage().getBody(Map.class);
        assertThat(record).containsEntry("title", "Board meeting").containsEntry("grant_id", "grant-advice");
        assertThat(mySystem.getExchanges().get(0).getMessage().getHeader("CalsyncIdempotencyKey", String.class))
                .as("the same for every retry of this change").isNotBlank();
        assertThat(count("SELECT count(*) FROM app_event")).as("the replaced step wrote nothing").isZero();
    }
}
