package dev.calsync.mapping;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.calsync.CalsyncHeaders;
import dev.calsync.CalsyncVariables;
import dev.calsync.support.IntegrationTest;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

import static dev.calsync.support.Notifications.event;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The mapping lookups of a claim: one query for the whole batch gives each event notification the rows the two
 * enrichers would have found, except where two notifications of the claim touch one record, or the notification's
 * keys are not known before it is opened.
 */
class ClaimMappingsTest extends IntegrationTest {

    private static final String GRANT = "grant-claim-map";

    @Autowired
    ClaimMappings claimMappings;
    @Autowired
    SyncMappings mappings;
    @Autowired
    MeterRegistry registry;
    @Autowired
    ProducerTemplate producer;

    private static Map<String, Object> claimed(String id, String type, String eventId, String hint) {
        Map<String, Object> row = new HashMap<>();
        row.put("notification_id", id);
        row.put("type", type);
        row.put("grant_id", GRANT);
        row.put("object_id", eventId);
        row.put("record_hint", hint);
        return row;
    }

    private static ClaimMappings.Found found(Map<String, Object> row) {
        return (ClaimMappings.Found) row.get(ClaimMappings.KEY);
    }

    /** What the enricher route gives for these keys: the list the planner would have received. */
    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> enriched(String route, String hint, String eventId) {
        Exchange answered = producer.request(route, exchange -> {
            exchange.setVariable(CalsyncVariables.RECORD_HINT, hint == null ? "" : hint);
            exchange.getMessage().setHeader(CalsyncHeaders.GRANT_ID, GRANT);
            exchange.getMessage().setHeader(CalsyncHeaders.EVENT_ID, eventId);
        });
        assertThat(answered.getException()).isNull();
        return answered.getMessage().getBody(List.class);
    }

    @Test
    void eachEventNotificationGetsTheRowsTheEnrichersWouldFind() {
        mappings.insertFromCalendar("rec-a", "evt-a", GRANT, "primary");
        mappings.markSynced("rec-a", "evt-a", "primary", "hash-a", 100L, null);
        mappings.insertFromCalendar("rec-b", "evt-b", GRANT, "primary");
        List<Map<String, Object>> claim = new ArrayList<>(List.of(
                claimed("n1", "event.updated", "evt-a", "rec-a"),
                claimed("n2", "event.created", "evt-new", null),
                claimed("n3", "event.deleted", "evt-b", "  "),
                claimed("n4", "event.created", "evt-copy", "rec-unknown")));

        claimMappings.prefetch(claim);

        for (Map<String, Object> row : claim) {
            ClaimMappings.Found f = found(row);
            String hint = (String) row.get("record_hint");
            String eventId = (String) row.get("object_id");
            assertThat(f).as("rows for %s", row.get("notification_id")).isNotNull();
            assertThat(f.byRecord()).isEqualTo(enriched("direct:calsync-mapping-find-by-record", hint, eventId));
            assertThat(f.byEvent()).isEqualTo(enriched("direct:calsync-mapping-find-by-event", hint, eventId));
            assertThat(f.answers(hint, GRANT, eventId)).isTrue();
        }
        assertThat(found(claim.get(0)).byRecord()).singleElement().satisfies(m ->
                assertThat(m).containsEntry("content_hash", "hash-a").containsEntry("remote_updated_at", 100L));
        assertThat(found(claim.get(1)).byEvent()).isEmpty();
        assertThat(found(claim.get(2)).byEvent()).singleElement().satisfies(m ->
                assertThat(m).containsEntry("internal_id", "rec-b"));
        assertThat(found(claim.get(3)).byRecord()).isEmpty();
    }

    @Test
    void notificationsOfOneClaimThatTouchOneRecordLookUpForThemselves() {
        mappings.insertFromCalendar("rec-a", "evt-a", GRANT, "primary");
        List<Map<String, Object>> claim = new ArrayList<>(List.of(
                // a copy of evt-a carrying rec-a's key, and evt-a itself: the second must see what the first wrote
                claimed("n1", "event.created", "evt-copy", "rec-a"),
                claimed("n2", "event.updated", "evt-a", null),
                // two new events naming one record
                claimed("n3", "event.created", "evt-x", "rec-new"),
                claimed("n4", "event.created", "evt-y", "rec-new"),
                claimed("n5", "event.created", "evt-z", null)));

        claimMappings.prefetch(claim);

        assertThat(claim.subList(0, 4)).allSatisfy(row -> assertThat(found(row)).isNull());
        assertThat(found(claim.get(4))).isNotNull();
    }

    @Test
    void truncatedAndNonEventNotificationsAreLeftToTheirRoutes() {
        List<Map<String, Object>> claim = new ArrayList<>(List.of(
                claimed("n1", "event.updated.truncated", "evt-a", null),
                claimed("n2", "grant.expired", null, null),
                claimed("n3", "calendar.updated", "cal-1", null)));

        claimMappings.prefetch(claim);

        assertThat(claim).allSatisfy(row -> assertThat(found(row)).isNull());
    }

    @Test
    void rowsForOtherKeysAnswerNothing() {
        ClaimMappings.Found f = new ClaimMappings.Found(null, GRANT, "evt-a", List.of(), List.of());

        assertThat(f.answers("", GRANT, "evt-a")).isTrue();
        assertThat(f.answers(null, GRANT, "evt-a")).isTrue();
        assertThat(f.answers("rec-a", GRANT, "evt-a")).isFalse();
        assertThat(f.answers(null, GRANT, "evt-b")).isFalse();
        assertThat(f.answers(null, "grant-other", "evt-a")).isFalse();
        ClaimMappings.Found old = new ClaimMappings.Found(null, GRANT, "evt-a", List.of(), List.of(),
                System.nanoTime() - ClaimMappings.MAX_AGE_NANOS - 1);
        assertThat(old.answers(null, GRANT, "evt-a")).as("rows read too long ago: looked up anew").isFalse();
    }

    @Test
    void processingUsesTheClaimsRowsInsteadOfLookingUpOneByOne() {
        awaitQuiet();
        double byRecord = exchanges("calsync-mapping-find-by-record");
        double byEvent = exchanges("calsync-mapping-find-by-event");

        String created = deliverAndWait("event.created", event(GRANT, "evt-1", "Standup", 100));
        String updated = deliverAndWait("event.updated", event(GRANT, "evt-1", "Standup (moved)", 200));
        String deleted = deliverAndWait("event.deleted", Map.of("id", "evt-1", "grant_id", GRANT));

        assertThat(List.of(outcome(created), outcome(updated), outcome(deleted)))
                .containsExactly("created", "updated", "deleted");
        assertThat(jdbc.queryForObject("SELECT count(*) FROM app_event e JOIN event_sync_map m ON m.internal_id = e.id"
                + " WHERE m.grant_id = ?", Long.class, GRANT)).isZero();
        assertThat(exchanges("calsync-mapping-find-by-record")).isEqualTo(byRecord);
        assertThat(exchanges("calsync-mapping-find-by-event")).isEqualTo(byEvent);
    }

    private double exchanges(String routeId) {
        Counter counter = registry.find("camel.exchanges.total").tag("routeId", routeId).counter();
        return counter == null ? 0 : counter.count();
    }
}
