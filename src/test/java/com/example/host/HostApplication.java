package com.example.host;

import java.util.Map;

import org.apache.camel.builder.RouteBuilder;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * An application a team already runs, with flows of its own, that adds calsync as a dependency: its own YAML route
 * ({@code classpath:host/camel/*}), its own Java route, its own REST endpoint under {@code /api} and its own Flyway
 * migration ({@code classpath:host/db/migration}). Its settings are in {@code host/host-application.yaml}.
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
