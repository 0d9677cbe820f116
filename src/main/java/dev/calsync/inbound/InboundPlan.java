package dev.calsync.inbound;

import java.util.Map;

/**
 * What to do with one inbound event change.
 *
 * @param action          create (new mapping first), update, delete (tombstone, then local delete), refetch (a
 *                        same-second tie: apply the event as Nylas holds it now) or skip
 * @param recordId        the local record the change applies to (also for a skip of a change to a known record, so
 *                        its log lines name the record)
 * @param contentHash     canonical hash of the incoming event (empty for deletes)
 * @param remoteUpdatedAt the event's {@code updated_at}, if it had one
 * @param outcome         the word recorded on the notification and in metrics
 * @param record          the local record to write (create and update only)
 */
public record InboundPlan(Action action, String recordId, String contentHash, Long remoteUpdatedAt, String outcome,
                          Map<String, Object> record) {

    public enum Action { CREATE, UPDATE, DELETE, REFETCH, SKIP }

    static InboundPlan skip(String recordId, String outcome) {
        return new InboundPlan(Action.SKIP, recordId, "", null, outcome, null);
    }
}
