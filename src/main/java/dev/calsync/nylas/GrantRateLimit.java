package dev.calsync.nylas;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.RedisBreaker;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.apache.camel.Header;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.data.redis.core.StringRedisTemplate;
import org.springframework.data.redis.core.script.RedisScript;
import org.springframework.stereotype.Component;
import org.springframework.beans.factory.annotation.Qualifier;

import static dev.calsync.CalsyncHeaders.GRANT_ID;

/**
 * The per-grant limit of Nylas calls ({@code calsync.push.max-requests-per-second-per-grant}), shared by every
 * instance: each call takes a place in its grant's current second, counted in Redis ({@code INCR
 * <prefix>:<grant>:<second>}, expiring after two seconds); a call that finds the second full waits for the next one.
 * So any number of replicas together stay under Nylas' per-grant limit. When Redis fails or is slow, each instance
 * counts on its own (the limit then holds per instance, as Camel's throttler did) until Redis answers again.
 * <p>
 * Written by hand because Camel's throttler counts per instance, and an atomic counter per grant and second is all a
 * shared limit needs (no token-bucket library is on the classpath).
 */
@Component("grantRateLimit")
public class GrantRateLimit {

    private static final Logger LOG = LoggerFactory.getLogger(GrantRateLimit.class);
    /** The longest one call waits for a place before it goes anyway (the limit is then exceeded, not deadlocked). */
    static final Duration MAX_WAIT = Duration.ofSeconds(30);

    private final StringRedisTemplate redis;
    private final Clock clock;
    private final int perSecond;
    private final String prefix;
    private final CircuitBreaker breaker;
    /** Per grant while Redis is away: {second, calls in it}, each array guarded by itself. */
    private final ConcurrentHashMap<String, long[]> local = new ConcurrentHashMap<>();

    /** INCR and, for the second's first call, EXPIRE in one atomic step (no key is ever left without its expiry). */
    private static final RedisScript<Long> TAKE = RedisScript.of("""
            local n = redis.call('INCR', KEYS[1])
            if n == 1 then redis.call('EXPIRE', KEYS[1], 2) end
            return n""", Long.class);

    @org.springframework.beans.factory.annotation.Autowired
    public GrantRateLimit(StringRedisTemplate redis, @Qualifier("calsyncClock") Clock clock,
                          CalsyncProperties properties) {
        this(redis, clock, properties.push().maxRequestsPerSecondPerGrant(), properties.nylas().rateLimitKeyPrefix());
    }

    GrantRateLimit(StringRedisTemplate redis, Clock clock, int perSecond, String prefix) {
        this.redis = redis;
        this.clock = clock;
        this.perSecond = perSecond;
        this.prefix = prefix;
        this.breaker = RedisBreaker.failFast("grant-rate-limit", Duration.ofSeconds(10));
    }

    /** Waits until the grant has a place in the current second (no limit for a call without a grant). */
    public void acquire(@Header(GRANT_ID) String grantId) throws InterruptedException {
        if (grantId != null) {
            place(grantId);
        }
    }

    /** Waits for a place of the grant; the second (Unix) whose place the call took. */
    long place(String grantId) throws InterruptedException {
        long deadline = clock.millis() + MAX_WAIT.toMillis();
        while (true) {
            long now = clock.millis();
            long second = now / 1000;
            if (take(grantId, second) <= perSecond || now >= deadline) {
                return second;
            }
            Thread.sleep(Math.max(1, (second + 1) * 1000 - clock.millis()));
        }
    }

    /** The number of calls of the grant in this second, this one included. */
    long take(String grantId, long second) {
        try {
            return breaker.executeSupplier(() -> {
                Long n = redis.execute(TAKE, List.of(prefix + ":" + grantId + ":" + second));
                return n == null ? 1L : n;
            });
        } catch (CallNotPermittedException e) {
            return takeLocally(grantId, second);
        } catch (RuntimeException e) {
            LOG.warn("Shared rate limit unavailable ({}); each instance limits its own calls until Redis is back",
                    e.getClass().getSimpleName());
            return takeLocally(grantId, second);
        }
    }

    private long takeLocally(String grantId, long second) {
        if (local.size() > 10_000) {
            // only this second's and the last one's windows matter
            local.entrySet().removeIf(e -> {
                synchronized (e.getValue()) {
                    return e.getValue()[0] < second - 1;
                }
            });
        }
        long[] window = local.computeIfAbsent(grantId, g -> new long[2]);
        synchronized (window) {
            // a call that waited on a failing Redis may bring an older second: it counts in the current one
            if (second > window[0]) {
                window[0] = second;
                window[1] = 0;
            }
            return ++window[1];
        }
    }
}
