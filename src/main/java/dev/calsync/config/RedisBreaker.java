package dev.calsync.config;

import java.time.Duration;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;

/**
 * The circuit breaker in front of every optional use of Redis: the first failure opens it, so no request waits on a
 * dead Redis again until {@code retryAfter} has passed; one trial call then closes it or opens it again.
 */
public final class RedisBreaker {

    private RedisBreaker() {
    }

    public static CircuitBreaker failFast(String name, Duration retryAfter) {
        return CircuitBreaker.of(name, CircuitBreakerConfig.custom()
                .slidingWindowSize(5)
                .minimumNumberOfCalls(1)
                .failureRateThreshold(50)
                .waitDurationInOpenState(retryAfter)
                .permittedNumberOfCallsInHalfOpenState(1)
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .build());
    }
}
