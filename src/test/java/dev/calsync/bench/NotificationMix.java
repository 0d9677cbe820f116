package dev.calsync.bench;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import dev.calsync.support.Signing;

import static dev.calsync.support.Notifications.deletedEvent;
import static dev.calsync.support.Notifications.envelope;
import static dev.calsync.support.Notifications.event;

/**
 * Signed {@code event.*} notifications as a calendar produces them: events are created, updated a few times and some
 * deleted (about 45% created, 38% updated, 17% deleted), spread over a few grants; a share of the deliveries are
 * duplicates of recent ones (same id and body: Nylas delivers at least once). Thread-safe; every notification id is
 * new within one mix, so each target gets a mix of its own.
 */
final class NotificationMix {

    /** One delivery: the body exactly as signed. */
    record Delivery(String id, String body, String signature) {
    }

    private static final int OPEN_EVENTS = 5_000;
    private static final int RECENT = 1_024;

    private final String prefix;
    private final String secret;
    private final List<String> grants;
    private final double duplicateShare;
    private final Random random;
    private final List<long[]> open = new ArrayList<>(); // {event number, grant index, version}
    private final Delivery[] recent = new Delivery[RECENT];
    private long sent;
    private long events;

    NotificationMix(String prefix, String secret, List<String> grants, double duplicateShare, long seed) {
        this.prefix = prefix;
        this.secret = secret;
        this.grants = List.copyOf(grants);
        this.duplicateShare = duplicateShare;
        this.random = new Random(seed);
    }

    synchronized Delivery next() {
        if (sent > 0 && random.nextDouble() < duplicateShare) {
            return recent[random.nextInt((int) Math.min(sent, RECENT))];
        }
        String id = prefix + "-ntf-" + sent;
        Delivery delivery;
        if (open.isEmpty() || (open.size() < OPEN_EVENTS && random.nextDouble() < 0.5)) {
            long[] e = {++events, random.nextInt(grants.size()), 1};
            open.add(e);
            delivery = signed(id, "event.created",
                    envelope(id, "event.created", event(grant(e), eventId(e), title(e), e[2])));
        } else {
            int i = random.nextInt(open.size());
            long[] e = open.get(i);
            if (random.nextDouble() < 0.7) {
                e[2]++;
                delivery = signed(id, "event.updated",
                        envelope(id, "event.updated", event(grant(e), eventId(e), title(e), e[2])));
            } else {
                open.set(i, open.get(open.size() - 1));
                open.remove(open.size() - 1);
                delivery = signed(id, "event.deleted", envelope(id, "event.deleted", deletedEvent(grant(e), eventId(e))));
            }
        }
        recent[(int) (sent % RECENT)] = delivery;
        sent++;
        return delivery;
    }

    /** Any signed notification, for other types ({@code grant.expired}). */
    Delivery signed(String id, String type, String body) {
        return new Delivery(id, body, Signing.sign(body.getBytes(StandardCharsets.UTF_8), secret));
    }

    private String grant(long[] e) {
        return grants.get((int) e[1]);
    }

    private String eventId(long[] e) {
        return prefix + "-evt-" + e[0];
    }

    private static String title(long[] e) {
        return "Planning " + e[0] + " v" + e[2];
    }
}
