package dev.calsync.config;

import java.time.Clock;

import dev.calsync.webhook.FailOpenIdempotentRepository;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import org.apache.camel.component.redis.processor.idempotent.SpringRedisStringIdempotentRepository;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.data.redis.core.StringRedisTemplate;

/** The Redis-backed notification-id repository of the webhook's idempotent consumer. */
@Configuration(proxyBeanMethods = false)
public class NotificationDedupeConfig {

    @Bean
    Clock clock() {
        return Clock.systemUTC();
    }

    /**
     * {@code SET <prefix>:<notification id> NX EX <ttl>} in Redis; when Redis fails or is slow the circuit opens and
     * PostgreSQL's primary key on the notification id dedupes alone until Redis answers again.
     */
    @Bean
    FailOpenIdempotentRepository notificationIdRepository(RedisConnectionFactory redis, CalsyncProperties properties) {
        StringRedisTemplate template = new StringRedisTemplate(redis);
        SpringRedisStringIdempotentRepository delegate =
                new SpringRedisStringIdempotentRepository(template, properties.dedupe().redisKeyPrefix());
        delegate.setExpiry(properties.dedupe().ttl().toSeconds());
        CircuitBreaker breaker = CircuitBreaker.of("redis-dedupe", CircuitBreakerConfig.custom()
                .slidingWindowSize(5)
                .minimumNumberOfCalls(1)
                .failureRateThreshold(50)
                .waitDurationInOpenState(properties.dedupe().redisRetryAfter())
                .permittedNumberOfCallsInHalfOpenState(1)
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .build());
        return new FailOpenIdempotentRepository(delegate, breaker);
    }
}
