package dev.calsync.nylas;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import dev.calsync.support.EmbeddedServers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.data.redis.core.StringRedisTemplate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Calls to one grant stay under the per-grant limit across every instance together, counted in Redis; without Redis
 * each instance still keeps the limit on its own. Asserts on how calls fall into seconds, not on elapsed time.
 */
class GrantRateLimitTest {

    private final List<LettuceConnectionFactory> factories = new ArrayList<>();
    private final ExecutorService callers = Executors.newFixedThreadPool(8);

    @AfterEach
    void close() {
        callers.shutdownNow();
        factories.forEach(LettuceConnectionFactory::destroy);
    }

    private StringRedisTemplate redis(int port) {
        LettuceConnectionFactory factory = new LettuceConnectionFactory(new RedisStandaloneConfiguration("127.0.0.1", port));
        factory.afterPropertiesSet();
        factory.start();
        factories.add(factory);
        return new StringRedisTemplate(factory);
    }

    /** Each caller takes places for the grant and records the second each place was counted in. */
    private Map<Long, Integer> callsPerSecond(List<GrantRateLimit> instances, String grant, int callsPerInstance)
            throws Exception {
        ConcurrentLinkedQueue<Long> seconds = new ConcurrentLinkedQueue<>();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (GrantRateLimit instance : instances) {
            for (int t = 0; t < 4; t++) {
                done.add(CompletableFuture.runAsync(() -> {
                    for (int i = 0; i < callsPerInstance / 4; i++) {
                        try {
                            seconds.add(instance.place(grant));
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                }, callers));
            }
        }
        for (CompletableFuture<Void> d : done) {
            d.get();
        }
        Map<Long, Integer> perSecond = new TreeMap<>();
        seconds.forEach(s -> perSecond.merge(s, 1, Integer::sum));
        return perSecond;
    }

    @Test
    void twoInstancesTogetherStayUnderTheLimitOfOneGrant() throws Exception {
        String prefix = "calsync-test-rate-" + System.nanoTime();
        int port = EmbeddedServers.redisPort();
        List<GrantRateLimit> instances = List.of(
                new GrantRateLimit(redis(port), Clock.systemUTC(), 20, prefix),
                new GrantRateLimit(redis(port), Clock.systemUTC(), 20, prefix));

        Map<Long, Integer> perSecond = callsPerSecond(instances, "grant-shared", 32);

        assertThat(perSecond.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(64);
        assertThat(perSecond.values()).as("calls per second of both instances: %s", perSecond)
                .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(20));
        assertThat(perSecond).hasSizeGreaterThanOrEqualTo(4); // 64 calls at 20/s need four seconds
    }

    @Test
    void withoutRedisEachInstanceKeepsTheLimitOnItsOwn() throws Exception {
        GrantRateLimit alone = new GrantRateLimit(redis(EmbeddedServers.freePort()), Clock.systemUTC(), 10,
                "calsync-test-rate");

        Map<Long, Integer> perSecond = callsPerSecond(List.of(alone), "grant-alone", 24);

        assertThat(perSecond.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(24);
        assertThat(perSecond.values()).as("calls per second: %s", perSecond)
                .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(10));
    }
}
