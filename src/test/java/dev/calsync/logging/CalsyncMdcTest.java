package dev.calsync.logging;

import java.util.HashMap;
import java.util.Map;

import dev.calsync.CalsyncHeaders;
import dev.calsync.CalsyncVariables;
import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.impl.DefaultCamelContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

import static org.assertj.core.api.Assertions.assertThat;

/** What a step of a calsync route sees in the MDC, and what it leaves behind. */
class CalsyncMdcTest {

    private final Map<String, Map<String, String>> seen = new HashMap<>();
    private CamelContext camel;
    private ProducerTemplate producer;

    @BeforeEach
    void start() throws Exception {
        camel = new DefaultCamelContext();
        camel.getCamelContextExtension().addInterceptStrategy(new CalsyncMdc());
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from("direct:calsync-step").routeId("calsync-step")
                        .process(e -> seen.put("calsync", copyOfMdc()));
                from("direct:host-step").routeId("host-step")
                        .process(e -> seen.put("host", copyOfMdc()));
            }
        });
        camel.start();
        producer = camel.createProducerTemplate();
    }

    @AfterEach
    void stop() {
        camel.stop();
        MDC.clear();
    }

    private static Map<String, String> copyOfMdc() {
        Map<String, String> mdc = MDC.getCopyOfContextMap();
        return mdc == null ? Map.of() : mdc;
    }

    @Test
    void aCalsyncStepSeesTheIdsAndTheVariableWinsOverTheHeader() {
        producer.send("direct:calsync-step", e -> {
            e.setVariable(CalsyncVariables.NOTIFICATION_ID, "ntf-1");
            e.getMessage().setHeader(CalsyncHeaders.GRANT_ID, "grant-from-header");
            e.setVariable(CalsyncHeaders.GRANT_ID, "grant-from-variable");
            e.setVariable(CalsyncVariables.RUN_ID, "run-1");
            e.getMessage().setHeader("Authorization", "Bearer secret-token");
        });

        assertThat(seen.get("calsync")).containsEntry("calsync.notification_id", "ntf-1")
                .containsEntry("calsync.grant_id", "grant-from-variable").containsEntry("calsync.run_id", "run-1")
                .doesNotContainKeys("calsync.event_id", "calsync.record_id")
                .doesNotContainValue("Bearer secret-token");
    }

    @Test
    void theIdsAreGoneAfterTheStepAndTheCallersOwnMdcIsKept() {
        MDC.put("calsync.grant_id", "the-callers");

        producer.send("direct:calsync-step", e -> e.getMessage().setHeader(CalsyncHeaders.GRANT_ID, "grant-1"));

        assertThat(seen.get("calsync")).containsEntry("calsync.grant_id", "grant-1");
        assertThat(MDC.get("calsync.grant_id")).isEqualTo("the-callers");
        assertThat(MDC.get("calsync.notification_id")).isNull();
    }

    @Test
    void aHostRoutesStepIsLeftAsItIs() {
        producer.send("direct:host-step", e -> e.getMessage().setHeader(CalsyncHeaders.GRANT_ID, "grant-1"));

        assertThat(seen.get("host")).doesNotContainKey("calsync.grant_id");
    }
}
