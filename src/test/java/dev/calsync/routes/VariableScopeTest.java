package dev.calsync.routes;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.impl.DefaultCamelContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What the route files rely on when they keep their own state in Camel variables (CalsyncVariables) rather than
 * headers, in the Camel this product runs on: a {@code direct:} call shares the caller's variables; a split's parts
 * (the series' occurrence records, the reconciliation's repairs and claimed runs), a {@code seda:} hand-over (a
 * claimed run to the reconciliation workers) and an enrich's exchange start with a copy of them. What a split's part
 * sets stays in the part; an enrich hands the variables of its exchange back with its result, but with
 * {@code variableReceive} not the headers its route set.
 */
class VariableScopeTest {

    private final List<Object> seen = new CopyOnWriteArrayList<>();
    private CamelContext camel;
    private ProducerTemplate producer;

    @BeforeEach
    void start() throws Exception {
        camel = new DefaultCamelContext();
        camel.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                from("direct:split").split(body()).to("direct:part").end();
                from("direct:part").process(e -> seen.add(e.getVariable("CalsyncNotificationId")))
                        .setVariable("setInPart", constant("part"));
                from("direct:seda").to("seda:runs?waitForTaskToComplete=Never");
                from("seda:runs").process(e -> seen.add(e.getVariable("CalsyncRunId")));
                from("direct:enrich").enrich().constant("direct:lookup").variableReceive("found");
                from("direct:lookup").process(e -> seen.add(e.getVariable("CalsyncRecordHint")))
                        .setVariable("setInLookup", constant("lookup"))
                        .setHeader("CamelJdbcParameters", simple("${variables}"))
                        .setBody(constant("row"));
                from("direct:call").to("direct:callee");
                from("direct:callee").setVariable("CalsyncAction", constant("create"));
            }
        });
        camel.start();
        producer = camel.createProducerTemplate();
    }

    @AfterEach
    void stop() {
        camel.stop();
    }

    @Test
    void aSplitsPartsStartWithTheCallersVariablesAndWhatTheySetStaysThere() {
        Exchange done = producer.send("direct:split", e -> {
            e.setVariable("CalsyncNotificationId", "ntf-1");
            e.getMessage().setBody(List.of("occurrence-a", "occurrence-b"));
        });

        assertThat(done.getException()).isNull();
        assertThat(seen).containsExactly("ntf-1", "ntf-1");
        assertThat(done.getVariable("setInPart")).isNull();
    }

    @Test
    void aSedaHandOverCarriesTheVariables() {
        producer.send("direct:seda", e -> e.setVariable("CalsyncRunId", "run-1"));

        await().atMost(10, TimeUnit.SECONDS).until(() -> !seen.isEmpty());
        assertThat(seen).containsExactly("run-1");
    }

    @Test
    void anEnrichSeesTheVariablesHandsItsOwnBackAndLeavesTheMessageAsItWas() {
        Exchange done = producer.send("direct:enrich", e -> {
            e.setVariable("CalsyncRecordHint", "rec-1");
            e.getMessage().setHeader("CalsyncEventId", "evt-1");
            e.getMessage().setBody("event");
        });

        assertThat(done.getException()).isNull();
        assertThat(seen).containsExactly("rec-1");
        assertThat(done.getVariable("found")).isEqualTo("row");
        // the enriched route's variables come back with the result (so it must not set the caller's names) ...
        assertThat(done.getVariable("setInLookup")).isEqualTo("lookup");
        // ... its headers do not (variableReceive): CamelJdbcParameters stays in the lookup by record
        assertThat(done.getMessage().getHeaders()).containsOnlyKeys("CalsyncEventId");
        assertThat(done.getMessage().getBody()).isEqualTo("event");
    }

    @Test
    void aDirectCallSharesTheVariables() {
        Exchange done = producer.send("direct:call", e -> e.getMessage().setBody("event"));

        assertThat(done.getVariable("CalsyncAction")).isEqualTo("create");
    }
}
