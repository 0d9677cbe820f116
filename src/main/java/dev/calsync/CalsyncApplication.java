package dev.calsync;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** The sync service: Camel routes from {@code routes/} plus the beans they call. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class CalsyncApplication {

    public static void main(String[] args) {
        SpringApplication.run(CalsyncApplication.class, args);
    }
}
