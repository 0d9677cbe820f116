package dev.calsync.simulator;

import java.util.Random;

/**
 * What can go wrong, decided by one seeded random so a run is reproducible. Rates are probabilities per call or per
 * delivery; all default to zero (a well-behaved Nylas).
 */
public final class SimulatorFaults {

    private Random random = new Random(1);

    /** API: answer 429 with a Retry-After header of {@link #retryAfterSeconds}. */
    public volatile double rate429;
    public volatile int retryAfterSeconds = 1;
    /** API: answer 500, 502 or 503. */
    public volatile double rate5xx;
    /** Grants whose every call is answered 503, as when one provider account keeps failing. */
    public final java.util.Set<String> failingGrants = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** API writes: apply the write, then close the connection without an answer. */
    public volatile double rateLostResponse;
    /** API: added latency per call, in milliseconds. */
    public volatile int latencyMillis;

    /** Webhooks: a notification is never delivered. */
    public volatile double rateDrop;
    /** Webhooks: a notification is delivered 2 or 3 times. */
    public volatile double rateDuplicate;
    /** Webhooks: duplicates are sent at the same moment rather than one after the other. */
    public volatile boolean concurrentDuplicates;
    /** Webhooks: each delivery waits a random 0..maxDelay ms, which reorders notifications. */
    public volatile int maxDeliveryDelayMillis;

    public synchronized void reseed(long seed) {
        random = new Random(seed);
    }

    public synchronized boolean roll(double rate) {
        return rate > 0 && random.nextDouble() < rate;
    }

    public synchronized int nextInt(int bound) {
        return bound <= 0 ? 0 : random.nextInt(bound);
    }

    public synchronized void reset() {
        failingGrants.clear();
        random = new Random(1);
        rate429 = 0;
        retryAfterSeconds = 1;
        rate5xx = 0;
        rateLostResponse = 0;
        latencyMillis = 0;
        rateDrop = 0;
        rateDuplicate = 0;
        concurrentDuplicates = false;
        maxDeliveryDelayMillis = 0;
    }
}
