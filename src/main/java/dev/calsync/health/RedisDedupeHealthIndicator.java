package dev.calsync.health;

import dev.calsync.webhook.FailOpenIdempotentRepository;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.springframework.boot.actuate.health.AbstractHealthIndicator;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.Status;
import org.springframework.data.redis.connection.RedisConnection;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.stereotype.Component;

/**
 * Reports the Redis dedupe cache: UP when it answers, DEGRADED (HTTP 200) when it does not, because the service
 * then keeps working on PostgreSQL alone. Never DOWN.
 */
@Component("redisDedupe")
@ConditionalOnProperty(name = "calsync.dedupe.redis-prefilter", havingValue = "true")
public class RedisDedupeHealthIndicator extends AbstractHealthIndicator {

    public static final Status DEGRADED = new Status("DEGRADED",
            "Redis is unreachable: notification dedupe runs on PostgreSQL alone");

    private final RedisConnectionFactory redis;
    private final FailOpenIdempotentRepository repository;

    public RedisDedupeHealthIndicator(RedisConnectionFactory redis, FailOpenIdempotentRepository repository) {
        super("Redis dedupe health check failed");
        this.redis = redis;
        this.repository = repository;
    }

    @Override
    protected void doHealthCheck(Health.Builder builder) {
        CircuitBreaker.State state = repository.breaker().getState();
        builder.withDetail("circuit", state.name());
        try (RedisConnection connection = redis.getConnection()) {
            connection.ping();
        } catch (RuntimeException e) {
            builder.status(DEGRADED).withDetail("error", e.getClass().getSimpleName());
            return;
        }
        builder.status(state == CircuitBreaker.State.OPEN ? DEGRADED : Status.UP);
    }
}
