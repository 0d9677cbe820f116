package dev.calsync.webhook;

import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.calsync.api.ErrorResponses;
import dev.calsync.config.CalsyncProperties;
import dev.calsync.config.SyncMetrics;
import dev.calsync.http.BodyReads;
import dev.calsync.http.CalsyncPaths;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.apache.camel.CamelContext;
import org.apache.camel.Processor;
import org.apache.camel.component.platform.http.PlatformHttpComponent;
import org.apache.camel.component.platform.http.PlatformHttpEndpoint;
import org.apache.camel.component.platform.http.spi.PlatformHttpConsumer;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpConsumer;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpEngine;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;

/**
 * The webhook's own listener ({@code calsync.webhook.listener.*}): {@code /webhooks/nylas} served by
 * camel-platform-http on Vert.x, on a port of its own, through the Camel component {@value #COMPONENT} that the
 * {@code calsync-nylas-webhook-listener} route consumes. Reading requests costs no thread (Vert.x event loops); only
 * the route runs on one of {@code workers} threads, where it waits for its group commit.
 * <p>
 * Measured against the same route on Tomcat and Spring MVC (docs/PERFORMANCE.md), it acknowledges 1.5–2.5 times
 * faster: no filter chain, no handler lookup, no asynchronous re-dispatch.
 * <p>
 * What this class adds around the route, because neither Vert.x nor camel-platform-http does it (each is a few lines
 * of Vert.x handler; the order is what matters):
 * <ol>
 * <li>before anything is read: the start-up/shutdown gate ({@link AcceptingGate}: 503 with {@code Retry-After}, never
 * a 404 that Nylas would not retry), the method (405), JSON only (415), an announced length over
 * {@code calsync.webhook.max-body-size} (413);</li>
 * <li>while the body is read: a deadline for the whole body ({@code calsync.http.body-read-timeout}; 408 and the
 * connection closed), so a sender trickling bytes cannot hold a request open, and the bounds on bodies read at once
 * ({@link BodyReads}: 503); the body limit is Vert.x' body handler's (413);</li>
 * <li>once the body is complete: the bound on notifications being stored ({@code calsync.webhook.max-in-flight}; 503
 * {@code busy}), so bodies still arriving never take the room of those being stored;</li>
 * <li>connections: an idle time-out and at most {@code max-connections} open, the longest-idle one closed to admit a
 * new one, so a flood of idle connections cannot shut Nylas out.</li>
 * </ol>
 * The Camel pieces (the router in the registry, the engine) are not Spring beans: a second {@code PlatformHttpEngine}
 * bean would stop camel-platform-http-starter from giving the servlet engine to the {@code platform-http} component.
 */
public class WebhookListener implements DisposableBean {

    /** The Camel component the webhook listener route consumes. */
    public static final String COMPONENT = "webhook-listener";
    static final String ROUTER = "calsync-webhook-listener-router";
    private static final String READ = "calsync.read";
    /** How long a refused request's body is read and dropped before its connection closes. */
    private static final long LINGER_MILLIS = 1_000;
    private static final String STORED = "calsync.stored";

    private static final Logger LOG = LoggerFactory.getLogger(WebhookListener.class);

    private final CalsyncProperties.Webhook settings;
    private final java.time.Duration bodyReadTimeout;
    private final AcceptingGate gate;
    private final SyncMetrics metrics;
    private final Vertx vertx;
    private final Semaphore storing;
    private final BodyReads reads;
    private final AtomicInteger requests = new AtomicInteger();
    /** The storing place of each request on its way to the route, given back when the route has finished it. */
    private final Map<io.vertx.core.http.HttpServerRequest, Runnable> storingPlaces = new ConcurrentHashMap<>();
    private final Connections connections;
    /** The webhook's path (under {@code calsync.http.base-path}). */
    private final String path;
    private volatile HttpServer server;

    public WebhookListener(CamelContext camel, CalsyncProperties properties, AcceptingGate gate, SyncMetrics metrics,
                           MeterRegistry registry) throws Exception {
        this.settings = properties.webhook();
        this.bodyReadTimeout = properties.http().bodyReadTimeout();
        this.gate = gate;
        this.metrics = metrics;
        this.storing = new Semaphore(settings.maxInFlight());
        CalsyncProperties.Listener listener = settings.listener();
        this.reads = new BodyReads(properties.http());
        this.connections = new Connections(listener.maxConnections());
        CalsyncPaths paths = CalsyncPaths.of(properties);
        this.path = paths.webhook();
        this.vertx = Vertx.vertx(new VertxOptions()
                .setEventLoopPoolSize(Math.max(1, Runtime.getRuntime().availableProcessors()))
                .setWorkerPoolSize(listener.workers()));
        Router router = Router.router(vertx);
        router.route(path).handler(this::admit);
        // the Camel consumer's route comes between these two: it adds itself when the route starts
        router.route(path).last().handler(ctx -> unavailable(ctx, "the webhook route is not running; retry later"));
        router.route(path).failureHandler(this::failed);
        router.errorHandler(404, ctx -> answer(ctx.response(), 404, "not_found", "no such path"));
        BodyHandler bodies = BodyHandler.create(false).setBodyLimit(settings.maxBodySize().toBytes())
                .setMergeFormAttributes(false).setPreallocateBodyBuffer(false);
        camel.getRegistry().bind(ROUTER, new VertxPlatformHttpRouter(null, vertx, router, ROUTER) {
            @Override
            public Handler<RoutingContext> bodyHandler() {
                return bodies;
            }
        });
        Gauge.builder("calsync.webhook.connections", connections, Connections::open)
                .description("Connections open on the webhook listener").register(registry);
        if (!paths.webhookEnabled()) {
            LOG.info("Webhook switched off (calsync.webhook.enabled=false): no webhook listener");
        } else if (listener.enabled()) {
            HttpServerOptions options = new HttpServerOptions()
                    .setIdleTimeout((int) listener.idleTimeout().toMillis()).setIdleTimeoutUnit(TimeUnit.MILLISECONDS)
                    .setMaxInitialLineLength(4096).setMaxHeaderSize(8192)
                    // HTTP/1.1 only: no waiting for a first byte to tell HTTP/2 from HTTP/1, so every connection is
                    // counted (and can be closed) from the moment it opens
                    .setHttp2ClearTextEnabled(false);
            try {
                this.server = vertx.createHttpServer(options).connectionHandler(this::opened).requestHandler(router)
                        .listen(listener.port(), listener.bindAddress()).toCompletionStage().toCompletableFuture()
                        .get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                // Vert.x' threads are not daemons: left running they would keep a failed start's JVM alive
                vertx.close();
                throw new IllegalStateException("The webhook listener cannot listen on " + listener.bindAddress() + ":"
                        + listener.port() + " (calsync.webhook.listener.port): " + e.getMessage(), e);
            }
            LOG.info("Webhook listener on {}:{}{}", listener.bindAddress(), server.actualPort(), path);
        }
    }

    /** The port the listener serves, or -1 when it is switched off. */
    public int port() {
        HttpServer listening = server;
        return listening == null ? -1 : listening.actualPort();
    }

    /** The Camel component {@value #COMPONENT}: camel-platform-http on this listener's router. */
    public PlatformHttpComponent component() {
        PlatformHttpComponent component = new PlatformHttpComponent();
        component.setEngine(new Engine(this::stored, this::routeTakes));
        return component;
    }

    /** Connections open on the listener now. */
    public int openConnections() {
        return connections.open();
    }

    private void opened(HttpConnection connection) {
        HttpConnection evicted = connections.opened(connection);
        if (evicted != null) {
            LOG.debug("Webhook listener at {} connections: closing one", connections.max);
            metrics.webhook("connection-closed");
            evicted.close();
        }
        connection.closeHandler(v -> connections.closed(connection));
    }

    /** Before the body: gate, method, media type, announced length; then the deadline for the body. */
    private void admit(RoutingContext ctx) {
        HttpMethod method = ctx.request().method();
        if (!gate.accepting()) {
            refuseUnread(ctx, 503, "unavailable", gate.refusal());
            return;
        }
        if (method != HttpMethod.POST && method != HttpMethod.GET) {
            ctx.response().putHeader("Allow", "GET, POST");
            refuseUnread(ctx, 405, "method_not_allowed", "use POST for notifications, GET for the challenge");
            return;
        }
        requests.incrementAndGet();
        HttpConnection connection = ctx.request().connection();
        connections.busy(connection, true);
        AtomicBoolean ended = new AtomicBoolean();
        ctx.addEndHandler(done -> {
            if (ended.compareAndSet(false, true)) {
                requests.decrementAndGet();
                connections.busy(connection, false);
            }
        });
        if (method == HttpMethod.GET) {
            ctx.next();
            return;
        }
        if (!WebhookRequestGuard.isJson(ctx.request().getHeader("Content-Type"))) {
            refuseUnread(ctx, 415, "unsupported_media_type", "Content-Type must be application/json");
            return;
        }
        long limit = settings.maxBodySize().toBytes();
        String length = ctx.request().getHeader("Content-Length");
        if (length != null && announcedOver(length, limit)) {
            refuseUnread(ctx, 413, "payload_too_large", BodyReads.tooLarge(limit));
            return;
        }
        boolean large = length == null || announcedOver(length, BodyReads.LARGE_BODY);
        String address = ctx.request().remoteAddress() == null ? "" : ctx.request().remoteAddress().hostAddress();
        BodyReads.Read read = reads.begin(address, large);
        if (read == null) {
            metrics.webhook("read-limit");
            refuseUnread(ctx, 503, "unavailable", BodyReads.TOO_MANY);
            return;
        }
        ctx.put(READ, read);
        // a request that ends before its body was whole gives its read back here; after that, its storing place does
        ctx.addEndHandler(done -> {
            if (ctx.get(STORED) == null) {
                read.answered();
            }
        });
        long deadline = vertx.setTimer(bodyReadTimeout.toMillis(), id -> {
            if (!ctx.request().isEnded() && !ctx.response().ended()) {
                metrics.webhook("body-timeout");
                closeAfter(ctx, 0, 408, "request_timeout", BodyReads.tooSlow(bodyReadTimeout));
            }
        });
        ctx.addEndHandler(done -> vertx.cancelTimer(deadline));
        ctx.next();
    }

    /**
     * After the body, before the route: the body is whole; the bound on notifications being stored. The place is
     * given back when the route has finished with the request ({@link #routeTakes}), not when the connection ends, so
     * a client that hangs up cannot leave a store running outside the bound.
     */
    private void stored(RoutingContext ctx) {
        if (ctx.request().method() != HttpMethod.POST) {
            ctx.next();
            return;
        }
        BodyReads.Read read = ctx.get(READ);
        ctx.put(STORED, Boolean.TRUE);
        if (read != null) {
            read.bodyWhole();
        }
        if (ctx.response().ended() || ctx.response().closed()) {
            // answered already (the body deadline): the body that arrived after it is not stored
            if (read != null) {
                read.answered();
            }
            return;
        }
        if (!storing.tryAcquire()) {
            if (read != null) {
                read.answered();
            }
            metrics.webhook("busy");
            unavailable(ctx, "too many notifications in flight; retry later");
            return;
        }
        AtomicBoolean released = new AtomicBoolean();
        storingPlaces.put(ctx.request(), () -> {
            if (released.compareAndSet(false, true)) {
                storing.release();
                if (read != null) {
                    read.answered();
                }
            }
        });
        ctx.next();
    }

    /** The route takes a request: the storing place is given back when it returns (see {@link Engine}). */
    private Runnable routeTakes(io.vertx.core.http.HttpServerRequest request) {
        Runnable place = request == null ? null : storingPlaces.remove(request);
        return place == null ? () -> { } : place;
    }

    private void failed(RoutingContext ctx) {
        routeTakes(ctx.request()).run(); // the route will not take this request: its place, if any, is free again
        if (ctx.response().ended()) {
            return;
        }
        if (ctx.statusCode() == 413) {
            long limit = settings.maxBodySize().toBytes();
            closeAfter(ctx, LINGER_MILLIS, 413, "payload_too_large", BodyReads.tooLarge(limit));
            return;
        }
        if (ctx.failure() != null) {
            LOG.error("Webhook request failed; answering 503 so Nylas retries", ctx.failure());
        }
        unavailable(ctx, "the notification could not be stored; retry later");
    }

    private static boolean announcedOver(String length, long limit) {
        try {
            return Long.parseLong(length.trim()) > limit;
        } catch (NumberFormatException e) {
            return false; // Vert.x refuses a malformed length itself
        }
    }

    private static void unavailable(RoutingContext ctx, String message) {
        ctx.response().putHeader("Retry-After", "1");
        answer(ctx.response(), 503, "unavailable", message);
    }

    /**
     * Answers a request whose body has not been read: the connection is closed after the answer (reading a body
     * only to throw it away would hand a slow sender the time this saves), {@code Retry-After} on a 503.
     */
    private void refuseUnread(RoutingContext ctx, int status, String code, String message) {
        if (status == 503) {
            ctx.response().putHeader("Retry-After", "1");
        }
        if (ctx.request().isEnded()) {
            answer(ctx.response(), status, code, message);
        } else {
            closeAfter(ctx, LINGER_MILLIS, status, code, message);
        }
    }

    /**
     * Answers and closes the connection: the rest of the body is not worth keeping. (Vert.x keeps a connection open
     * whatever the response's {@code Connection} header says, so it is closed here.) With {@code lingerMillis}, the
     * rest of the body is read and dropped for at most that long first, as servers commonly linger: a client that
     * sends its whole body before it reads (most do) then gets the answer instead of a reset connection. A sender
     * past the body deadline gets no linger.
     */
    private void closeAfter(RoutingContext ctx, long lingerMillis, int status, String code, String message) {
        HttpServerResponse response = ctx.response();
        if (response.ended() || response.closed()) {
            return;
        }
        response.putHeader("Connection", "close").setStatusCode(status).putHeader("Content-Type", "application/json")
                .end(ErrorResponses.body(code, message)).onComplete(done -> {
                    if (lingerMillis <= 0 || ctx.request().isEnded()) {
                        response.close();
                        return;
                    }
                    long linger = vertx.setTimer(lingerMillis, id -> response.close());
                    ctx.request().handler(dropped -> { }).endHandler(end -> {
                        vertx.cancelTimer(linger);
                        response.close();
                    });
                    ctx.request().resume();
                });
    }

    private static void answer(HttpServerResponse response, int status, String code, String message) {
        if (response.ended() || response.closed()) {
            return;
        }
        response.setStatusCode(status).putHeader("Content-Type", "application/json")
                .end(ErrorResponses.body(code, message));
    }

    /**
     * Stops taking notifications and closes: the gate answers 503 from the moment the application closes, the
     * requests under way finish (at most a body's read time and a store's time-out), then the listener closes.
     */
    @Override
    public void destroy() throws Exception {
        long drainUntil = System.nanoTime()
                + bodyReadTimeout.plus(settings.storeTimeout()).plus(Duration.ofSeconds(1)).toNanos();
        while ((requests.get() > 0 || storing.availablePermits() < settings.maxInFlight())
                && System.nanoTime() < drainUntil) {
            Thread.sleep(20); // the drain has no event to wait on: requests end on Vert.x threads
        }
        if (requests.get() > 0) {
            LOG.warn("Webhook listener closing with {} requests under way; Nylas will deliver them again",
                    requests.get());
        }
        HttpServer listening = server;
        server = null;
        if (listening != null) {
            listening.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    /**
     * camel-platform-http's Vert.x engine on this listener's router, with the storing bound after the body handler.
     * Not bound as the registry's {@code platformHttpEngine} (the library does that in {@code doInit}): the servlet
     * engine keeps the {@code platform-http} component.
     */
    static final class Engine extends VertxPlatformHttpEngine {
        private final java.util.function.Function<io.vertx.core.http.HttpServerRequest, Runnable> routeTakes;

        Engine(Handler<RoutingContext> afterBody,
               java.util.function.Function<io.vertx.core.http.HttpServerRequest, Runnable> routeTakes) {
            setHandlers(java.util.List.of(afterBody));
            this.routeTakes = routeTakes;
        }

        @Override
        protected void doInit() {
            // not registered as the default engine (see the class comment)
        }

        @Override
        public PlatformHttpConsumer createConsumer(PlatformHttpEndpoint endpoint, Processor processor) {
            // the route runs synchronously on a worker thread: the storing place is given back when it returns
            Processor guarded = exchange -> {
                org.apache.camel.component.platform.http.vertx.HttpMessage message =
                        exchange.getIn(org.apache.camel.component.platform.http.vertx.HttpMessage.class);
                Runnable done = routeTakes.apply(message == null ? null : message.getRequest());
                try {
                    processor.process(exchange);
                } finally {
                    done.run();
                }
            };
            return new VertxPlatformHttpConsumer(endpoint, guarded, getHandlers(), ROUTER) {
                @Override
                protected void handleRequest(RoutingContext ctx) {
                    if (isSuspended()) {
                        routeTakes.apply(ctx.request()).run(); // answered 503 at once, never routed
                    }
                    super.handleRequest(ctx);
                }
            };
        }
    }

    /**
     * The listener's open connections in the order they opened, each marked busy while a request is under way.
     * Written by hand: Vert.x has an idle time-out but no connection limit, and a plain limit would let idle
     * connections shut out new ones; here the longest-idle connection makes room.
     */
    static final class Connections {
        private final int max;
        /** Open connections, least recently active first, with the requests each has under way. */
        private final LinkedHashMap<HttpConnection, int[]> open = new LinkedHashMap<>(16, 0.75f, true);

        Connections(int max) {
            this.max = max;
        }

        synchronized int open() {
            return open.size();
        }

        /**
         * Records a new connection. At the limit, returns the connection to close: the one idle the longest, or the
         * new one itself when every open connection has a request under way; else null.
         */
        synchronized HttpConnection opened(HttpConnection connection) {
            if (open.size() >= max) {
                for (Iterator<Map.Entry<HttpConnection, int[]>> it = open.entrySet().iterator(); it.hasNext(); ) {
                    Map.Entry<HttpConnection, int[]> candidate = it.next();
                    if (candidate.getValue()[0] == 0) {
                        it.remove();
                        open.put(connection, new int[1]);
                        return candidate.getKey();
                    }
                }
                return connection;
            }
            open.put(connection, new int[1]);
            return null;
        }

        synchronized void closed(HttpConnection connection) {
            open.remove(connection);
        }

        /** A request starts or ends on the connection; either moves it to the most recently active end. */
        synchronized void busy(HttpConnection connection, boolean started) {
            int[] requests = open.get(connection);
            if (requests != null) {
                requests[0] += started ? 1 : -1;
            }
        }
    }
}
