package dev.calsync.autoconfigure;

import dev.calsync.api.ActuatorTokenFilter;
import dev.calsync.config.CalsyncProperties;
import org.springframework.boot.actuate.autoconfigure.endpoint.web.WebEndpointProperties;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextType;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;

/**
 * The {@link ActuatorTokenFilter} on the actuator's paths, in the context that serves them: the management server's
 * own child context when {@code management.server.port} differs from {@code server.port} (the standalone service's
 * default), the application's context when they share a port ({@link ManagementContextType#ANY}; listed in
 * {@code META-INF/spring/org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration.imports}).
 * An application with Spring Security keeps its own authorisation: the filter is left out there.
 */
@ManagementContextConfiguration(value = ManagementContextType.ANY, proxyBeanMethods = false)
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnMissingClass("org.springframework.security.config.annotation.web.configuration.EnableWebSecurity")
@EnableConfigurationProperties(WebEndpointProperties.class)
public class CalsyncManagementContextConfiguration {

    @Bean
    FilterRegistrationBean<ActuatorTokenFilter> calsyncActuatorTokenFilter(CalsyncProperties properties,
                                                                           WebEndpointProperties endpoints) {
        FilterRegistrationBean<ActuatorTokenFilter> registration = new FilterRegistrationBean<>(
                new ActuatorTokenFilter(properties.api().effectiveAdminToken()));
        registration.addUrlPatterns(endpoints.getBasePath() + "/*");
        registration.setOrder(Ordered.HIGHEST_PRECEDENCE + 20);
        return registration;
    }
}
