package dev.calsync.shutdown;

import java.util.function.IntSupplier;

import dev.calsync.config.SyncMetrics;
import dev.calsync.inbox.NotificationInbox;
import dev.calsync.outbound.PushOutbox;
import dev.calsync.reconcile.ReconcileRuns;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * On a graceful stop, gives back every claim this instance still holds, so a rolling deploy delays no work by a
 * lease: the notifications it claimed ({@code webhook_inbox}), the pushes ({@code event_sync_map}) and the
 * reconciliation runs ({@code reconcile_run}), each through the component that owns that table's transitions, each
 * matched by this instance's claim tokens only ({@link ClaimTokens}). A released row is simply claimed again by
 * another instance (or this one restarted); a worker of this instance still running records nothing, because every
 * result is recorded only under the claim it held.
 * <p>
 * When: Spring stops lifecycle beans in descending phase. The web server drains first ({@code server.shutdown:
 * graceful}, phase {@code DEFAULT_PHASE - 1024}) and stops ({@code DEFAULT_PHASE - 2048}); then the Camel context
 * ({@code SpringCamelContext}, phase {@code DEFAULT_PHASE - 2049}) stops its routes: the scheduler consumers of the
 * polls claim no new batch, and the work in flight is given {@code camel.main.shutdown-timeout} to finish. Only then,
 * in this bean's lower phase, is what remains claimed released: rows claimed in a batch that never reached a worker,
 * and work still running when the timeout ran out. The DataSource is closed later still, when the beans are
 * destroyed. This bean must not depend on the Camel context: Spring stops a lifecycle bean's dependents before it,
 * whatever their phase. A Spring lifecycle bean rather than a Camel shutdown callback because it is the application
 * that stops, and Spring's ordering spans both the Camel context and the DataSource.
 */
@Component("claimRelease")
public class ClaimRelease implements SmartLifecycle {

    /** Below the Camel context's phase ({@code DEFAULT_PHASE - 2049}): stopped after its routes. */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

    private static final Logger LOG = LoggerFactory.getLogger(ClaimRelease.class);

    private final NotificationInbox inbox;
    private final PushOutbox pushes;
    private final ReconcileRuns runs;
    private final SyncMetrics metrics;
    private volatile boolean running;

    public ClaimRelease(NotificationInbox inbox, PushOutbox pushes, ReconcileRuns runs, SyncMetrics metrics) {
        this.inbox = inbox;
        this.pushes = pushes;
        this.runs = runs;
        this.metrics = metrics;
    }

    @Override
    public void start() {
        running = true;
    }

    @Override
    public void stop() {
        running = false;
        int notifications = release("webhook_inbox", inbox::releaseClaims);
        int pushed = release("event_sync_map", pushes::releaseClaims);
        int reconciliations = release("reconcile_run", runs::releaseClaims);
        LOG.info("Stopping: released the claims this instance still held, for other instances to take at once:"
                + " {} notification(s) (webhook_inbox), {} push(es) (event_sync_map), {} reconciliation run(s)"
                + " (reconcile_run)", notifications, pushed, reconciliations);
    }

    /** One table's release; a failure (the database gone) leaves that table's rows to their leases, as before. */
    private int release(String table, IntSupplier release) {
        try {
            int released = release.getAsInt();
            metrics.released(table, released);
            return released;
        } catch (RuntimeException e) {
            LOG.warn("Stopping: could not release the claims held in {}; they wait for their leases to run out: {}",
                    table, e.toString());
            return 0;
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }
}
