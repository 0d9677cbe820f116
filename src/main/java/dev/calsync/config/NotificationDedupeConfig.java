package dev.calsync.config;


import dev.calsync.inbox.InboxIdempotentRepository;
import dev.calsync.inbox.InboxWriter;
import dev.calsync.webhook.FailOpenIdempotentRepository;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.apache.camel.component.redis.processor.idempotent.SpringRedisStringIdempotentRepository;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.data.redis.core.StringRedisTemplate;

/**
 * The webhook idempotent consumer's repository: the inbox itself ({@link InboxIdempotentRepository}), with Redis in
 * front of it when {@code calsync.dedupe.redis-prefilter} is on.
 */
@Configuration(proxyBeanMethods = false)
public class NotificationDedupeConfig {

    /**
     * {@code SET <prefix>:<notification id> NX EX <ttl>} in Redis; when Redis fails or is slow the circuit opens and
     * PostgreSQL's primary key on the notification id dedupes alone until Redis answers again.
     */
    @Bean
    InboxIdempotentRepository notificationIdRepository(InboxWriter writer, CalsyncProperties properties,
                                                       ObjectProvider<FailOpenIdempotentRepository> redis) {
        return new InboxIdempotentRepository(writer, properties.dedupe().redisPrefilter() ? redis.getObject() : null);
    }

    @Bean
    @ConditionalOnProperty(name = "calsync.dedupe.redis-prefilter", havingValue = "true")
    FailOpenIdempotentRepository redisNotificationIds(RedisConnectionFactory redis, CalsyncProperties properties) {
        StringRedisTemplate template = new StringRedisTemplate(redis);
        SpringRedisStringIdempotentRepository delegate =
                new SpringRedisStringIdempotentRepository(template, properties.dedupe().redisKeyPrefix());
        delegate.setExpiry(properties.dedupe().ttl().toSeconds());
        CircuitBreaker breaker = RedisBreaker.failFast("redis-dedupe", properties.dedupe().redisRetryAfter());
        return new FailOpenIdempotentRepository(delegate, breaker);
    }
}
