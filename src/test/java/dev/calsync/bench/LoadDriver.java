package dev.calsync.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The load generator for one target (a webhook endpoint): its own {@link HttpClient} per run (HTTP/1.1, one
 * connection per concurrent request), its own threads. Three shapes:
 * <ul>
 *   <li>{@link #closed}: N connections, each sends its next notification as soon as the previous one is answered,
 *       for a fixed time; latency from send to answer.</li>
 *   <li>{@link #open}: a fixed rate, whatever the answers; request i is due at {@code start + i / rate} and its
 *       latency is measured from that due time, not from when a sender got to it (no coordinated omission). A
 *       request still unsent 10 s after its due time, or unanswered 10 s after it was sent, is what Nylas counts as
 *       failed: it counts as "over 10 s" (its latency as infinite).</li>
 *   <li>{@link #count}: a fixed number of notifications as fast as N connections take them (the burst, a backlog);
 *       latency from send.</li>
 * </ul>
 */
final class LoadDriver {

    static final Duration BUDGET = Duration.ofSeconds(10);
    private static final long BUDGET_NANOS = BUDGET.toNanos();
    static final long FAILED = Long.MAX_VALUE;

    /**
     * What one run measured; latencies in nanoseconds (of every answer, whatever its status), {@link #FAILED} for no
     * answer within the budget.
     */
    /** The latency (nanoseconds, {@link #FAILED} for none) at this percentile, in milliseconds; NaN when empty. */
    static double percentileMillis(long[] latencies, double percentile) {
        if (latencies.length == 0) {
            return Double.NaN;
        }
        long[] sorted = latencies.clone();
        Arrays.sort(sorted);
        long v = sorted[(int) Math.min(sorted.length - 1, Math.ceil(sorted.length * percentile / 100) - 1)];
        return v == FAILED ? Double.POSITIVE_INFINITY : v / 1e6;
    }

    record Result(int sent, int ok, Map<String, Integer> answers, long nanos, long[] latencies) {

        double okPerSecond() {
            return ok / (nanos / 1e9);
        }

        /** Latency at this percentile, in milliseconds; infinite when it is a failed one. */
        double millis(double percentile) {
            return percentileMillis(latencies, percentile);
        }

        long overBudget() {
            return Arrays.stream(latencies).filter(l -> l > BUDGET_NANOS).count();
        }
    }

    private final URI uri;
    private final NotificationMix mix;

    LoadDriver(URI uri, NotificationMix mix) {
        this.uri = uri;
        this.mix = mix;
    }

    Result closed(int connections, Duration duration) throws Exception {
        long end = System.nanoTime() + duration.toNanos();
        return byConnections(connections, () -> System.nanoTime() < end);
    }

    Result count(int connections, int notifications) throws Exception {
        AtomicInteger left = new AtomicInteger(notifications);
        return byConnections(connections, () -> left.getAndDecrement() > 0);
    }

    private interface Condition {
        boolean more();
    }

    private Result byConnections(int connections, Condition more) throws Exception {
        HttpClient http = client();
        Answers answers = new Answers();
        ExecutorService threads = Executors.newFixedThreadPool(connections);
        List<Future<long[]>> workers = new ArrayList<>();
        long start = System.nanoTime();
        for (int c = 0; c < connections; c++) {
            workers.add(threads.submit(() -> {
                long[] latencies = new long[1024];
                int n = 0;
                while (more.more()) {
                    long t0 = System.nanoTime();
                    String answer = post(http, mix.next());
                    answers.count(answer);
                    long latency = answered(answer) ? System.nanoTime() - t0 : FAILED;
                    if (n == latencies.length) {
                        latencies = Arrays.copyOf(latencies, n * 2);
                    }
                    latencies[n++] = latency;
                }
                return Arrays.copyOf(latencies, n);
            }));
        }
        List<long[]> all = new ArrayList<>();
        for (Future<long[]> w : workers) {
            all.add(w.get());
        }
        long nanos = System.nanoTime() - start;
        threads.shutdown();
        long[] latencies = all.stream().flatMapToLong(Arrays::stream).toArray();
        return answers.result(latencies, nanos);
    }

    Result open(int perSecond, Duration duration, int senders) throws Exception {
        HttpClient http = client();
        Answers answers = new Answers();
        int total = (int) (perSecond * duration.toMillis() / 1000);
        long[] latencies = new long[total];
        ThreadPoolExecutor threads = new ThreadPoolExecutor(senders, senders, 1, TimeUnit.MINUTES,
                new LinkedBlockingQueue<>());
        threads.prestartAllCoreThreads();
        AtomicLong lastAnswer = new AtomicLong();
        long start = System.nanoTime();
        for (int i = 0; i < total; i++) {
            long due = start + (long) (i * (1e9 / perSecond));
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            NotificationMix.Delivery delivery = mix.next();
            int index = i;
            threads.execute(() -> {
                if (System.nanoTime() - due > BUDGET_NANOS) {
                    answers.count("not sent within 10 s");
                    latencies[index] = FAILED;
                    return;
                }
                String answer = post(http, delivery);
                answers.count(answer);
                long now = System.nanoTime();
                latencies[index] = answered(answer) ? now - due : FAILED;
                lastAnswer.accumulateAndGet(now, Math::max);
            });
        }
        threads.shutdown();
        threads.awaitTermination(duration.toSeconds() + 60, TimeUnit.SECONDS);
        return answers.result(latencies, Math.max(lastAnswer.get(), start + duration.toNanos()) - start);
    }

    /** An HTTP status (any: a 500 is an answer, counted on its own), not a timeout or a broken connection. */
    private static boolean answered(String answer) {
        return answer.chars().allMatch(Character::isDigit);
    }

    static HttpClient client() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2))
                .build();
    }

    /** The answer's status ("200", "503", ...), or why there was none. */
    String post(HttpClient http, NotificationMix.Delivery d) {
        try {
            HttpResponse<Void> response = http.send(HttpRequest.newBuilder(uri).timeout(BUDGET)
                    .header("Content-Type", "application/json")
                    .header("X-Nylas-Signature", d.signature())
                    .POST(HttpRequest.BodyPublishers.ofString(d.body())).build(), HttpResponse.BodyHandlers.discarding());
            return String.valueOf(response.statusCode());
        } catch (HttpTimeoutException e) {
            return "no answer within 10 s";
        } catch (IOException e) {
            return "no answer (" + e.getClass().getSimpleName() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private static final class Answers {
        private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

        void count(String answer) {
            counts.computeIfAbsent(answer, a -> new LongAdder()).increment();
        }

        Result result(long[] latencies, long nanos) {
            Map<String, Integer> copy = new TreeMap<>();
            counts.forEach((k, v) -> copy.put(k, v.intValue()));
            int sent = copy.values().stream().mapToInt(Integer::intValue).sum();
            return new Result(sent, copy.getOrDefault("200", 0), copy, nanos, latencies);
        }
    }
}
