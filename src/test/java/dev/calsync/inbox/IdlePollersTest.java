package dev.calsync.inbox;

import java.time.Duration;

import dev.calsync.support.IntegrationTest;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.beans.factory.annotation.Autowired;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * With nothing to claim, a poller waits its delay between claims (50 ms in the tests: about 20 claims a second), so
 * an idle service spends no CPU and no database round trips on empty claims that acknowledgements could use.
 */
class IdlePollersTest extends IntegrationTest {

    @Autowired
    MeterRegistry registry;

    @ParameterizedTest
    @ValueSource(strings = {"calsync-notification-poll", "calsync-outbound-poll"})
    void anIdlePollerWaitsItsDelayBetweenEmptyClaims(String routeId) throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> count("SELECT count(*) FROM webhook_inbox") == 0
                && count("SELECT count(*) FROM event_sync_map WHERE sync_state = 'pending'") == 0);
        double before = exchanges(routeId);
        long started = System.nanoTime();

        Thread.sleep(2_000); // the time over which the polls are counted, not a wait for a condition

        double perSecond = (exchanges(routeId) - before) / ((System.nanoTime() - started) / 1e9);
        assertThat(perSecond).as("%s polls per second while idle (delay 50 ms)", routeId).isBetween(1.0, 40.0);
    }

    private double exchanges(String routeId) {
        Counter counter = registry.find("camel.exchanges.total").tag("routeId", routeId).counter();
        assertThat(counter).as("camel.exchanges.total of %s", routeId).isNotNull();
        return counter.count();
    }
}
