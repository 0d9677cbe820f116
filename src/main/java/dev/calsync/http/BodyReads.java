package dev.calsync.http;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.calsync.config.CalsyncProperties;

/**
 * The bounds on request bodies being read by one server ({@code calsync.http.*}): at most {@code max-body-reads} at
 * once, {@code max-body-reads-per-address} from one client address, and {@code max-large-body-reads} that may each
 * reach the body limit (held until the answer), so what reading holds (threads on the servlet side, memory on both)
 * stays bounded and one slow client cannot take every read. Written by hand: neither Vert.x nor Tomcat bounds the
 * bodies being read at once, nor per client.
 */
public final class BodyReads {

    /** Bodies announced over this (or sent without a length) count against {@code max-large-body-reads}. */
    public static final long LARGE_BODY = 64 * 1024;

    private final int max;
    private final Semaphore all;
    private final Semaphore large;
    private final int maxPerAddress;
    private final Map<String, AtomicInteger> byAddress = new ConcurrentHashMap<>();

    public BodyReads(CalsyncProperties.Http settings) {
        this(settings.maxBodyReads(), settings.maxLargeBodyReads(), settings.maxBodyReadsPerAddress());
    }

    BodyReads(int max, int maxLarge, int maxPerAddress) {
        this.max = max;
        this.all = new Semaphore(max);
        this.large = new Semaphore(maxLarge);
        this.maxPerAddress = maxPerAddress;
    }

    /** The answer's message when a bound is reached (503). */
    public static final String TOO_MANY = "too many bodies being read; retry later";

    /** The answer's message for a body over its limit (413). */
    public static String tooLarge(long limit) {
        return "body exceeds " + limit + " bytes";
    }

    /** The answer's message for a body not whole within the deadline (408). */
    public static String tooSlow(java.time.Duration deadline) {
        return "the body did not arrive within " + deadline.toMillis() + " ms";
    }

    /** Bodies being read now. */
    public int reading() {
        return max - all.availablePermits();
    }

    /** Whether a body of this announced length ({@code -1}: none announced) counts as large. */
    public static boolean isLarge(long announcedLength) {
        return announcedLength < 0 || announcedLength > LARGE_BODY;
    }

    /** Starts a read, or returns null when a bound is reached. */
    public Read begin(String address, boolean isLarge) {
        String key = address == null ? "" : address;
        if (maxPerAddress > 0 && !enter(key)) {
            return null;
        }
        if (!all.tryAcquire()) {
            leave(key);
            return null;
        }
        if (isLarge && !large.tryAcquire()) {
            all.release();
            leave(key);
            return null;
        }
        return new Read(key, isLarge);
    }

    /** Takes one of the address' places, atomically with the count's creation and removal; false when none is left. */
    private boolean enter(String address) {
        boolean[] entered = {false};
        byAddress.compute(address, (a, n) -> {
            AtomicInteger count = n == null ? new AtomicInteger() : n;
            if (count.get() < maxPerAddress) {
                count.incrementAndGet();
                entered[0] = true;
            }
            return count.get() == 0 ? null : count;
        });
        return entered[0];
    }

    private void leave(String address) {
        if (maxPerAddress > 0) {
            byAddress.computeIfPresent(address, (a, n) -> n.decrementAndGet() <= 0 ? null : n);
        }
    }

    /** One body's places; each is given back once, whatever order the events come in. */
    public final class Read {
        private final String address;
        private final AtomicBoolean reading = new AtomicBoolean(true);
        private final AtomicBoolean holdingLarge;

        private Read(String address, boolean isLarge) {
            this.address = address;
            this.holdingLarge = new AtomicBoolean(isLarge);
        }

        /** The body is whole: no longer being read (a large one is still held). */
        public void bodyWhole() {
            if (reading.compareAndSet(true, false)) {
                all.release();
                leave(address);
            }
        }

        /** The request is answered (or its connection gone): nothing is held any more. */
        public void answered() {
            bodyWhole();
            if (holdingLarge.compareAndSet(true, false)) {
                large.release();
            }
        }
    }
}
