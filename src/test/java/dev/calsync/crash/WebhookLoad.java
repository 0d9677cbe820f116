package dev.calsync.crash;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Random;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import dev.calsync.support.ServiceProcess;
import dev.calsync.support.Signing;

import static dev.calsync.support.Notifications.deletedEvent;
import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;

/**
 * Client threads that deliver signed notifications to the webhook the way Nylas does: a notification that got no
 * answer or anything but a 200 is delivered again later with the same id and body, and some acknowledged ones are
 * delivered again anyway (Nylas delivers at least once). Every delivery and every answer is recorded.
 *
 * <p>Each client tells stories of events that happen on a calendar: an event is created, maybe updated, maybe
 * deleted, each step one notification. Every event id is new, so what the service must end up with is known: one
 * mapping per event, and one record with the last title, or a tombstone and no record if the event was deleted.
 */
final class WebhookLoad implements AutoCloseable {

    /** One notification, delivered as often as needed with exactly this id and body. */
    record Notification(String id, String type, String body) {
    }

    /** An event's life on the calendar and what the service must end up with. */
    record Story(String grantId, String eventId, List<Notification> notifications, String title, boolean deleted) {
    }

    private static final Duration ANSWER_BUDGET = Duration.ofSeconds(10);

    private final ServiceProcess service;
    private final String secret;
    private final int clients;
    private final long seed;
    private final double duplicateShare;
    private final int inFlight;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2)).build();
    private final ExecutorService threads;

    private final Collection<Story> stories = new ConcurrentLinkedQueue<>();
    private final Set<String> sent = ConcurrentHashMap.newKeySet();
    private final Set<String> acknowledged = ConcurrentHashMap.newKeySet();
    private final Set<String> neededRetry = ConcurrentHashMap.newKeySet();
    private final DelayQueue<Delivery> later = new DelayQueue<>();
    private final Map<String, LongAdder> answers = new ConcurrentHashMap<>();
    private final Collection<String> unexpected = new ConcurrentLinkedQueue<>();
    private final LongAdder deliveries = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder acknowledgements = new LongAdder();
    private final NavigableSet<Long> acknowledgedAt = new ConcurrentSkipListSet<>();
    private final LongAdder startUpNotFound = new LongAdder();
    private volatile boolean telling = true;
    private volatile boolean running = true;

    /**
     * @param inFlight at most this many notifications are unacknowledged at a time: no new events are told while
     *                 the service is not taking any (Nylas keeps a bounded number of deliveries going, too)
     */
    WebhookLoad(ServiceProcess service, String secret, int clients, int inFlight, long seed, double duplicateShare) {
        this.service = service;
        this.inFlight = inFlight;
        this.secret = secret;
        this.clients = clients;
        this.seed = seed;
        this.duplicateShare = duplicateShare;
        this.threads = Executors.newFixedThreadPool(clients);
    }

    void start() {
        for (int c = 1; c <= clients; c++) {
            int client = c;
            threads.submit(() -> client(client));
        }
    }

    /** No new events from now on; the events begun are finished, what was not acknowledged is delivered again. */
    void stopNewEvents() {
        telling = false;
    }

    /** Stops every client. */
    @Override
    public void close() throws InterruptedException {
        running = false;
        threads.shutdown();
        if (!threads.awaitTermination(30, TimeUnit.SECONDS)) {
            threads.shutdownNow();
        }
    }

    private void client(int client) {
        Random random = new Random(seed + client);
        Deque<Notification> story = new ArrayDeque<>();
        int events = 0;
        while (running) {
            Delivery next = later.poll();
            if (next == null && story.isEmpty() && telling && sent.size() - acknowledged.size() < inFlight) {
                story.addAll(tell(client, ++events, random).notifications());
            }
            if (next == null && !story.isEmpty()) {
                next = new Delivery(story.poll(), Kind.FIRST, 0); // a story begun is told to its end
            }
            if (next == null) {
                next = pollLater();
            }
            if (next != null) {
                deliver(next, random);
            }
        }
    }

    private Delivery pollLater() {
        try {
            return later.poll(100, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private Story tell(int client, int number, Random random) {
        String grant = "grant-" + (1 + random.nextInt(3));
        String eventId = "evt-" + client + "-" + number;
        List<Notification> steps = new ArrayList<>();
        String title = "Event " + eventId + " v1";
        steps.add(notification(eventId + "-1", "event.created", event(grant, eventId, title, 1_000)));
        if (random.nextDouble() < 0.4) {
            title = "Event " + eventId + " v2";
            steps.add(notification(eventId + "-2", "event.updated", event(grant, eventId, title, 2_000)));
        }
        boolean deleted = random.nextDouble() < 0.2;
        if (deleted) {
            steps.add(notification(eventId + "-3", "event.deleted", deletedEvent(grant, eventId)));
        }
        Story story = new Story(grant, eventId, steps, title, deleted);
        stories.add(story);
        return story;
    }

    private Notification notification(String suffix, String type, Map<String, Object> object) {
        String id = "ntf-" + suffix;
        sent.add(id);
        return new Notification(id, type, envelope(id, type, object));
    }

    private void deliver(Delivery delivery, Random random) {
        Notification n = delivery.notification();
        int generation = service.generation();
        deliveries.increment();
        switch (delivery.kind()) {
            case RETRY -> retries.increment();
            case DUPLICATE -> duplicates.increment();
            default -> { }
        }
        String answer;
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(service.webhookUrl())
                    .timeout(ANSWER_BUDGET)
                    .header("Content-Type", "application/json")
                    .header("X-Nylas-Signature", Signing.sign(n.body().getBytes(StandardCharsets.UTF_8), secret))
                    .POST(HttpRequest.BodyPublishers.ofString(n.body())).build(), HttpResponse.BodyHandlers.ofString());
            int status = response.statusCode();
            answer = String.valueOf(status);
            if (status == 200 && response.body().contains("\"accepted\"")) {
                count(answer);
                acknowledged.add(n.id());
                acknowledgements.increment();
                acknowledgedAt.add(System.nanoTime());
                service.acknowledgedBy(generation);
                if (delivery.kind() != Kind.DUPLICATE && random.nextDouble() < duplicateShare) {
                    later.add(new Delivery(n, Kind.DUPLICATE, random.nextInt(3_000)));
                }
                return;
            }
            if ((status == 404 || status == 405) && service.startingUp(generation)) {
                // counted on their own (an instance that has not acknowledged anything yet is still starting) and
                // refused like any other: Nylas does not retry them, so the notification would be lost
                answer = status + " (start-up)";
                startUpNotFound.increment();
                unexpected.add(status + " during start-up for " + n.id() + " from instance " + generation);
            } else if (status != 400 && status != 401 && status != 503) {
                unexpected.add(status + " for " + n.id() + " from instance " + generation + ": "
                        + response.body().substring(0, Math.min(200, response.body().length())));
            }
        } catch (HttpTimeoutException e) {
            answer = "no answer (timeout)";
        } catch (IOException e) {
            answer = "no answer (" + e.getClass().getSimpleName() + ")";
        } catch (RuntimeException e) {
            answer = "client failure";
            unexpected.add("client failure delivering " + n.id() + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        count(answer);
        if (delivery.kind() != Kind.DUPLICATE) {
            neededRetry.add(n.id());
        }
        later.add(new Delivery(n, delivery.kind() == Kind.DUPLICATE ? Kind.DUPLICATE : Kind.RETRY,
                500 + random.nextInt(1_500)));
    }

    private void count(String answer) {
        answers.computeIfAbsent(answer, a -> new LongAdder()).increment();
    }

    // ------------------------------------------------------------------------------------------- the record

    Collection<Story> stories() {
        return stories;
    }

    Set<String> sent() {
        return sent;
    }

    Set<String> acknowledged() {
        return acknowledged;
    }

    Set<String> unacknowledged() {
        Set<String> missing = ConcurrentHashMap.newKeySet();
        sent.stream().filter(id -> !acknowledged.contains(id)).forEach(missing::add);
        return missing;
    }

    long acknowledgements() {
        return acknowledgements.sum();
    }

    /** The longest time without any acknowledgement between these two instants ({@link System#nanoTime()}). */
    double longestSilenceSeconds(long fromNanos, long toNanos) {
        long longest = 0;
        long previous = fromNanos;
        for (long at : acknowledgedAt.subSet(fromNanos, true, toNanos, true)) {
            longest = Math.max(longest, at - previous);
            previous = at;
        }
        return longest / 1e9;
    }

    long deliveries() {
        return deliveries.sum();
    }

    long retries() {
        return retries.sum();
    }

    int notificationsRetried() {
        return neededRetry.size();
    }

    long duplicates() {
        return duplicates.sum();
    }

    long startUpNotFound() {
        return startUpNotFound.sum();
    }

    SortedMap<String, Long> answers() {
        SortedMap<String, Long> copy = new TreeMap<>();
        answers.forEach((k, v) -> copy.put(k, v.sum()));
        return copy;
    }

    /** Answers the promise does not allow: anything but 200, 400, 401, 503 or no answer (start-up included). */
    List<String> unexpectedAnswers() {
        return List.copyOf(unexpected);
    }

    private enum Kind { FIRST, RETRY, DUPLICATE }

    private static final class Delivery implements Delayed {
        private final Notification notification;
        private final Kind kind;
        private final long dueNanos;

        Delivery(Notification notification, Kind kind, long delayMillis) {
            this.notification = notification;
            this.kind = kind;
            this.dueNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delayMillis);
        }

        Notification notification() {
            return notification;
        }

        Kind kind() {
            return kind;
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(dueNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed other) {
            return Long.compare(getDelay(TimeUnit.NANOSECONDS), other.getDelay(TimeUnit.NANOSECONDS));
        }
    }
}
