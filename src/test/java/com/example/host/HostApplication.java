package com.example.host;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.apache.camel.builder.RouteBuilder;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * An application a team already runs, with flows of its own, that adds calsync as a dependency: its own YAML route
 * ({@code classpath:host/camel/*}), its own Java route, its own REST endpoint under {@code /api}, its own Flyway
 * migration ({@code classpath:host/db/migration}), and its own Java route in place of calsync's local sink. Its settings are in {@code host/host-application.yaml}.
 */
@SpringBootApplication
public class HostApplication {

    /** The host's own Java route. */
    @Bean
    RouteBuilder hostOrders() {
        return new RouteBuilder() {
            @Override
            public void configure() {
                from("direct:host-orders").routeId("host-orders").setBody(simple("order ${body} accepted"));
            }
        };
    }

    /** The ids of the records the host's own sink received. */
    static final List<String> RECEIVED = new CopyOnWriteArrayList<>();

    /**
     * The host replaces calsync's {@code calsync-local-upsert} (the sink every calendar change is written through)
     * by a Java route of the same id: it still writes calsync's built-in store, and also tells the host.
     */
    @Bean
    RouteBuilder hostSink() {
        return new RouteBuilder() {
            @Override
            public void configure() {
                from("direct:calsync-local-upsert").routeId("calsync-local-upsert")
                        .setVariable("written", method("localEventStore", "upsert"))
                        .process(exchange -> RECEIVED.add(exchange.getMessage().getBody(Map.class).get("id")
                                .toString()));
            }
        };
    }

    /** The host's own REST endpoint, open to anyone, as the host defines it. */
    @RestController
    static class HostStatus {

        private final JdbcTemplate jdbc;

        HostStatus(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @GetMapping("/api/status")
        Map<String, Object> status() {
            return Map.of("orders", jdbc.queryForObject("SELECT count(*) FROM host_order", Integer.class));
        }
    }
}
