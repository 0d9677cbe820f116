package dev.calsync;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;

/**
 * The standalone sync service: calsync's auto-configuration ({@link dev.calsync.autoconfigure.CalsyncAutoConfiguration},
 * the same an application that embeds calsync gets) plus the standalone service's own application-wide settings
 * ({@code calsync/calsync-standalone.yaml}). No component scan: every calsync bean comes from the auto-configuration.
 */
@SpringBootConfiguration
@EnableAutoConfiguration
public class CalsyncApplication {

    public static void main(String[] args) {
        SpringApplication.run(CalsyncApplication.class, args);
    }
}
