package dev.calsync.autoconfigure;

import java.util.List;

import jakarta.servlet.Filter;

import dev.calsync.api.ApiBodyGuard;
import dev.calsync.api.ApiTokenFilter;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.http.CalsyncPaths;
import dev.calsync.webhook.AcceptingGate;
import dev.calsync.webhook.WebhookRequestGuard;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.AnnotationAwareOrderComparator;

/**
 * Registers calsync's servlet filters for calsync's own paths only ({@link CalsyncPaths#servletUrlPatterns()}), so a
 * host application's requests never pass through them. A filter bean with a registration bean is not registered a
 * second time on {@code /*} by Spring Boot. Each filter keeps its own path check as well.
 */
@Configuration(proxyBeanMethods = false)
class CalsyncFilters {

    @Bean
    FilterRegistrationBean<AcceptingGate> calsyncAcceptingGateRegistration(AcceptingGate filter,
            CalsyncProperties properties) {
        return register(filter, properties);
    }

    @Bean
    FilterRegistrationBean<WebhookRequestGuard> calsyncWebhookRequestGuardRegistration(WebhookRequestGuard filter,
            CalsyncProperties properties) {
        return register(filter, properties);
    }

    @Bean
    FilterRegistrationBean<ApiTokenFilter> calsyncApiTokenFilterRegistration(ApiTokenFilter filter,
            CalsyncProperties properties) {
        return register(filter, properties);
    }

    @Bean
    FilterRegistrationBean<ApiBodyGuard> calsyncApiBodyGuardRegistration(ApiBodyGuard filter,
            CalsyncProperties properties) {
        return register(filter, properties);
    }

    private static <F extends Filter> FilterRegistrationBean<F> register(F filter, CalsyncProperties properties) {
        FilterRegistrationBean<F> registration = new FilterRegistrationBean<>(filter);
        List<String> patterns = CalsyncPaths.of(properties).servletUrlPatterns();
        registration.setUrlPatterns(patterns);
        // no pattern would mean "/*" to the servlet container: nothing of calsync's is served, so no filter either
        registration.setEnabled(!patterns.isEmpty());
        Integer order = AnnotationAwareOrderComparator.INSTANCE.getPriority(filter);
        registration.setOrder(order == null ? Ordered.LOWEST_PRECEDENCE : order);
        return registration;
    }
}
