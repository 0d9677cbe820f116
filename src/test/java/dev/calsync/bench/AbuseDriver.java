package dev.calsync.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The abuse run's generator, against one webhook endpoint: an attack that holds the server's connections and request
 * threads, and meanwhile signed notifications that should still be answered.
 * <ul>
 *   <li><b>Slow senders</b>: each connection sends a request head that announces a body of {@value #ANNOUNCED} bytes
 *       ({@code Content-Type: application/json}, a well-formed but wrong {@code X-Nylas-Signature}, so a server has
 *       to read the body before it can tell), then {@value #CHUNK} bytes of JSON-like filler every 500 ms. A sender
 *       the server answers or closes is <i>cut off</i> (the server defending itself): by which status or by a close,
 *       and how long after its connection was made. With {@code reconnect} a cut-off connection is made again at
 *       its next 500 ms tick, to keep the pressure up.</li>
 *   <li><b>Idle connections</b>: TCP connected, nothing sent, kept open; the ones the server closes are counted (and
 *       made again with {@code reconnect}).</li>
 *   <li><b>Probes</b>: from {@value #PROBE_DELAY_SECONDS} s after the attack started until its end, every 200 ms a
 *       correctly signed notification (a fresh id each) on a connection of its own ({@code Connection: close});
 *       status and latency from its due time, no answer within {@value #PROBE_TIMEOUT_SECONDS} s counts as timed
 *       out. The attack holds until the last probe is answered or timed out. The probes come from another loopback
 *       address ({@code load.abuse.probe-address}, {@value #DEFAULT_PROBE_ADDRESS}) than the attack (127.0.0.1):
 *       Nylas and an attacker are different clients, and a server may limit what one client address holds.</li>
 * </ul>
 * Three threads, whatever the number of connections: the attack on one NIO selector, the probes on another, and the
 * caller. After the attack every socket is closed, then a signed notification is sent every 200 ms until one is
 * answered {@code 200} (at most 30 s): the server should be healthy again.
 */
final class AbuseDriver {

    static final int ANNOUNCED = 2_000_000;
    static final String DEFAULT_PROBE_ADDRESS = "127.0.0.2";
    static final String PROBE_ADDRESS = System.getProperty("load.abuse.probe-address", DEFAULT_PROBE_ADDRESS);
    static final int CHUNK = 512;
    static final long PROBE_DELAY_SECONDS = 8;
    static final long PROBE_TIMEOUT_SECONDS = 15;
    private static final long TICK = TimeUnit.MILLISECONDS.toNanos(500);
    private static final long PROBE_EVERY = TimeUnit.MILLISECONDS.toNanos(200);
    private static final long PROBE_TIMEOUT = TimeUnit.SECONDS.toNanos(PROBE_TIMEOUT_SECONDS);
    private static final long PROBE_DRAIN = TimeUnit.SECONDS.toNanos(2);
    private static final long RECOVERY = TimeUnit.SECONDS.toNanos(30);
    /** Connections opened at once, and how often: 5,000 a second, so a listen backlog of 100 keeps up. */
    private static final int OPEN_BATCH = 50;
    private static final long OPEN_PACE = TimeUnit.MILLISECONDS.toNanos(10);
    static final long FAILED = LoadDriver.FAILED;

    /** What the attack is made of. */
    record Settings(int slowSenders, int idleConnections, Duration attack, boolean reconnect) {
    }

    /**
     * What one run measured. Latencies in nanoseconds from each probe's due time ({@link #FAILED}: no answer within
     * the timeout); the cut-off maps are by how (a status, "closed", "reset") to the nanoseconds from connect to it.
     */
    record Result(Settings settings, int probes, int ok, int okWithinSecond, Map<String, Integer> notOk,
                  long[] latencies, Map<String, List<Long>> sendersCutOff, Map<String, List<Long>> idleClosed,
                  int reconnects, int connectFailures, int stalledWrites, double attackSeconds, String after,
                  int leftOpen, int driverFdsBefore, int driverFdsAfter) {

        int timedOut() {
            return (int) Arrays.stream(latencies).filter(l -> l == FAILED).count();
        }

        /** Latency at this percentile, in milliseconds; infinite for a probe that timed out. */
        double millis(double percentile) {
            return LoadDriver.percentileMillis(latencies, percentile);
        }

        /** The probes' figures, for one table cell. */
        String probeCell() {
            StringBuilder cell = new StringBuilder(String.format("probes %,d: %,d answered 200, %.0f%% with a 200"
                            + " within 1 s; p50 %s, p99 %s, max %s; %,d timed out (%d s)", probes, ok,
                    probes == 0 ? 0 : 100.0 * okWithinSecond / probes, ms(millis(50)), ms(millis(99)),
                    ms(millis(100)), timedOut(), PROBE_TIMEOUT_SECONDS));
            Map<String, Integer> others = new TreeMap<>(notOk);
            others.remove("no answer within " + PROBE_TIMEOUT_SECONDS + " s");
            if (!others.isEmpty()) {
                cell.append("; other outcomes ").append(others);
            }
            return cell.toString();
        }

        /** How the server defended itself, for one table cell. */
        String defenceCell() {
            return String.format("slow senders cut off: %s; idle connections closed: %s; %s; attack %.0f s",
                    cutOffs(sendersCutOff, settings.slowSenders()), cutOffs(idleClosed, settings.idleConnections()),
                    settings.reconnect() ? String.format("reconnected %,d times", reconnects) : "no reconnects",
                    attackSeconds)
                    + (connectFailures > 0 ? String.format("; %,d connects failed", connectFailures) : "")
                    + (stalledWrites > 0 ? String.format("; %,d writes stalled (the server read no more)",
                    stalledWrites) : "");
        }

        private static String cutOffs(Map<String, List<Long>> byHow, int of) {
            int total = byHow.values().stream().mapToInt(List::size).sum();
            if (total == 0) {
                return String.format("0 of %,d", of);
            }
            StringBuilder s = new StringBuilder(String.format("%,d (of %,d at a time):", total, of));
            byHow.forEach((how, times) -> {
                long[] t = times.stream().mapToLong(Long::longValue).sorted().toArray();
                s.append(String.format(" %,d by %s after %s (%s to %s)", t.length, how, ms(t[t.length / 2] / 1e6),
                        ms(t[0] / 1e6), ms(t[t.length - 1] / 1e6)));
            });
            return s.toString();
        }

        static String ms(double millis) {
            if (Double.isInfinite(millis)) {
                return "> " + PROBE_TIMEOUT_SECONDS + " s";
            }
            return millis >= 1000 ? String.format("%.1f s", millis / 1000) : String.format("%.1f ms", millis);
        }
    }

    private final URI uri;
    private final InetSocketAddress address;
    private final NotificationMix mix;
    /** Every socket this driver has open now. */
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();

    AbuseDriver(URI webhook, NotificationMix mix) {
        this.uri = webhook;
        this.address = new InetSocketAddress(webhook.getHost(), webhook.getPort());
        this.mix = mix;
    }

    /**
     * The attack, the probes during it, then the recovery. {@code atPeak} runs once the last probe has its outcome,
     * while the attack still holds (a thread dump, a count of the server's sockets).
     */
    Result run(Settings settings, Runnable atPeak) throws Exception {
        int fdsBefore = openFileDescriptors();
        ExecutorService threads = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "abuse-driver");
            t.setDaemon(true);
            return t;
        });
        Attack attack = new Attack(settings);
        long start = System.nanoTime();
        long attackEnd;
        try {
            Future<?> attacking = threads.submit(() -> {
                attack.run(start);
                return null;
            });
            Probes probes = new Probes(start + TimeUnit.SECONDS.toNanos(PROBE_DELAY_SECONDS),
                    start + settings.attack().toNanos());
            Future<?> probing = threads.submit(() -> {
                probes.run();
                return null;
            });
            probing.get();
            atPeak.run();
            attack.stop();
            attacking.get();
            attackEnd = System.nanoTime();
            String after = recovery();
            int leftOpen = open.size();
            return new Result(settings, probes.sent, probes.ok, probes.okWithinSecond, probes.notOk,
                    probes.latencies(), attack.sendersCutOff, attack.idleClosed, attack.reconnects,
                    attack.connectFailures, attack.stalledWrites, (attackEnd - start) / 1e9, after, leftOpen,
                    fdsBefore, openFileDescriptors());
        } finally {
            attack.stop();
            threads.shutdownNow();
            threads.awaitTermination(10, TimeUnit.SECONDS);
            for (SocketChannel c : open) {
                closeQuietly(c);
            }
        }
    }

    // ------------------------------------------------------------------------------------------- the attack

    private enum Kind { SENDER, IDLE }

    /** One attacking connection slot; a reconnect is a new generation of the same slot. */
    private static final class Slot {
        final Kind kind;
        final int index;
        SocketChannel channel;
        int generation;
        long connectedAt;
        ByteBuffer pending;
        long bodySent;
        StringBuilder answer;

        Slot(Kind kind, int index) {
            this.kind = kind;
            this.index = index;
        }
    }

    /** Something due for a slot at a time: its next write, or a reconnect. Stale once the slot moved on. */
    private record Due(long at, Slot slot, int generation) {
    }

    private final class Attack {
        private final Settings settings;
        private final Map<String, List<Long>> sendersCutOff = new TreeMap<>();
        private final Map<String, List<Long>> idleClosed = new TreeMap<>();
        private final List<Slot> slots = new ArrayList<>();
        private final ArrayDeque<Slot> toOpen = new ArrayDeque<>();
        private final PriorityQueue<Due> due = new PriorityQueue<>(Comparator.comparingLong(Due::at));
        private final ByteBuffer readBuffer = ByteBuffer.allocate(4096);
        private final byte[] head;
        private final byte[] filler;
        private volatile boolean stopping;
        private volatile Selector selector;
        private int reconnects;
        private int connectFailures;
        private int stalledWrites;

        Attack(Settings settings) {
            this.settings = settings;
            this.head = ("POST " + path() + " HTTP/1.1\r\nHost: " + hostHeader() + "\r\n"
                    + "Content-Type: application/json\r\n"
                    + "X-Nylas-Signature: " + "0".repeat(64) + "\r\n"
                    + "Content-Length: " + ANNOUNCED + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            StringBuilder f = new StringBuilder(CHUNK);
            while (f.length() < CHUNK) {
                f.append("Planning the quarterly review, agenda to follow. ");
            }
            this.filler = f.substring(0, CHUNK).getBytes(StandardCharsets.US_ASCII);
        }

        void stop() {
            stopping = true;
            Selector s = selector;
            if (s != null) {
                s.wakeup();
            }
        }

        void run(long start) throws IOException {
            try (Selector s = Selector.open()) {
                selector = s;
                for (int i = 0; i < settings.slowSenders(); i++) {
                    slots.add(new Slot(Kind.SENDER, i));
                }
                for (int i = 0; i < settings.idleConnections(); i++) {
                    slots.add(new Slot(Kind.IDLE, i));
                }
                toOpen.addAll(slots);
                long nextBatch = start;
                while (!stopping) {
                    long now = System.nanoTime();
                    if (!toOpen.isEmpty() && now >= nextBatch) {
                        for (int i = 0; i < OPEN_BATCH && !toOpen.isEmpty(); i++) {
                            connect(toOpen.poll(), now);
                        }
                        nextBatch = now + OPEN_PACE;
                    }
                    while (!due.isEmpty() && due.peek().at() <= now) {
                        Due d = due.poll();
                        if (d.generation() == d.slot().generation) {
                            dueNow(d.slot(), now);
                        }
                    }
                    long wait = toOpen.isEmpty() ? TimeUnit.MILLISECONDS.toNanos(100) : nextBatch - now;
                    if (!due.isEmpty()) {
                        wait = Math.min(wait, due.peek().at() - now);
                    }
                    s.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait)));
                    Iterator<SelectionKey> keys = s.selectedKeys().iterator();
                    while (keys.hasNext()) {
                        SelectionKey key = keys.next();
                        keys.remove();
                        Slot slot = (Slot) key.attachment();
                        if (!key.isValid() || slot.channel != key.channel()) {
                            continue;
                        }
                        if (key.isConnectable()) {
                            connected(slot, key);
                        } else if (key.isReadable()) {
                            readable(slot);
                        }
                    }
                }
            } finally {
                selector = null;
                for (Slot slot : slots) {
                    if (slot.channel != null) {
                        close(slot.channel);
                        slot.channel = null;
                    }
                }
            }
        }

        private void connect(Slot slot, long now) {
            SocketChannel c = null;
            try {
                c = SocketChannel.open();
                open.add(c);
                c.configureBlocking(false);
                c.setOption(StandardSocketOptions.TCP_NODELAY, true);
                slot.channel = c;
                slot.generation++;
                slot.pending = null;
                slot.bodySent = 0;
                slot.answer = null;
                if (c.connect(address)) {
                    established(slot, c.register(selector, SelectionKey.OP_READ, slot), now);
                } else {
                    c.register(selector, SelectionKey.OP_CONNECT, slot);
                }
            } catch (IOException e) {
                connectFailures++;
                if (c != null) {
                    close(c);
                }
                slot.channel = null;
                slot.generation++;
                later(slot, now);
            }
        }

        private void connected(Slot slot, SelectionKey key) {
            long now = System.nanoTime();
            try {
                slot.channel.finishConnect();
                key.interestOps(SelectionKey.OP_READ);
                established(slot, key, now);
            } catch (IOException e) {
                connectFailures++;
                close(slot.channel);
                slot.channel = null;
                slot.generation++;
                later(slot, now);
            }
        }

        private void established(Slot slot, SelectionKey key, long now) {
            slot.connectedAt = now;
            if (slot.kind == Kind.SENDER) {
                slot.pending = ByteBuffer.wrap(head);
                write(slot, now);
                if (slot.channel != null) {
                    due.add(new Due(now + TICK, slot, slot.generation));
                }
            }
        }

        /** A sender's next chunk, or a closed slot's reconnect. */
        private void dueNow(Slot slot, long now) {
            if (slot.channel == null) {
                if (settings.reconnect()) {
                    reconnects++;
                    toOpen.add(slot);
                }
                return;
            }
            if (slot.pending == null && slot.bodySent + CHUNK <= ANNOUNCED) {
                slot.pending = ByteBuffer.wrap(filler);
            }
            write(slot, now);
            if (slot.channel != null) {
                due.add(new Due(now + TICK, slot, slot.generation));
            }
        }

        private void write(Slot slot, long now) {
            if (slot.pending == null) {
                return;
            }
            try {
                int before = slot.pending.remaining();
                slot.channel.write(slot.pending);
                if (slot.pending.array() == filler) {
                    slot.bodySent += before - slot.pending.remaining();
                }
                if (slot.pending.hasRemaining()) {
                    stalledWrites++; // the server's receive window is full: it reads no more; tried again next tick
                } else {
                    slot.pending = null;
                }
            } catch (IOException e) {
                cutOff(slot, "reset", now);
            }
        }

        private void readable(Slot slot) {
            long now = System.nanoTime();
            readBuffer.clear();
            int n;
            try {
                n = slot.channel.read(readBuffer);
            } catch (IOException e) {
                cutOff(slot, "reset", now);
                return;
            }
            if (n < 0) {
                cutOff(slot, slot.answer == null ? "close" : status(slot.answer), now);
                return;
            }
            if (slot.answer == null) {
                slot.answer = new StringBuilder();
            }
            slot.answer.append(new String(readBuffer.array(), 0, n, StandardCharsets.ISO_8859_1));
            if (slot.answer.indexOf("\r\n") >= 0) {
                cutOff(slot, status(slot.answer), now);
            }
        }

        private void cutOff(Slot slot, String how, long now) {
            (slot.kind == Kind.SENDER ? sendersCutOff : idleClosed).computeIfAbsent(how, h -> new ArrayList<>())
                    .add(now - slot.connectedAt);
            close(slot.channel);
            slot.channel = null;
            slot.generation++;
            later(slot, now);
        }

        /** A closed slot is made again at its next tick, if reconnecting. */
        private void later(Slot slot, long now) {
            if (settings.reconnect() && !stopping) {
                due.add(new Due(now + TICK, slot, slot.generation));
            }
        }
    }

    // ------------------------------------------------------------------------------------------- the probes

    private static final class Probe {
        final long due;
        final ByteBuffer request;
        SocketChannel channel;
        StringBuilder answer = new StringBuilder();
        String outcome;
        long latency = FAILED;
        long answeredAt;

        Probe(long due, byte[] request) {
            this.due = due;
            this.request = ByteBuffer.wrap(request);
        }
    }

    private final class Probes {
        private final long first;
        private final long until;
        private final List<Probe> all = new ArrayList<>();
        private final List<Probe> inFlight = new ArrayList<>();
        private final Map<String, Integer> notOk = new TreeMap<>();
        private final ByteBuffer readBuffer = ByteBuffer.allocate(4096);
        private int sent;
        private int ok;
        private int okWithinSecond;

        Probes(long first, long until) {
            this.first = first;
            this.until = until;
        }

        long[] latencies() {
            return all.stream().mapToLong(p -> p.latency).toArray();
        }

        void run() throws IOException, InterruptedException {
            try (Selector s = Selector.open()) {
                long next = first;
                while (next < until || !inFlight.isEmpty()) {
                    long now = System.nanoTime();
                    if (next < until && now >= next) {
                        launch(s, next);
                        next += PROBE_EVERY;
                        continue;
                    }
                    for (Iterator<Probe> i = inFlight.iterator(); i.hasNext(); ) {
                        Probe p = i.next();
                        if (p.outcome == null && now - p.due > PROBE_TIMEOUT) {
                            outcome(p, "no answer within " + PROBE_TIMEOUT_SECONDS + " s", now);
                            closeProbe(p);
                        }
                        if (p.outcome != null && (p.channel == null || now - p.answeredAt > PROBE_DRAIN)) {
                            closeProbe(p);
                            i.remove();
                        }
                    }
                    long wait = TimeUnit.MILLISECONDS.toNanos(20);
                    if (next < until) {
                        wait = Math.min(wait, next - now);
                    }
                    s.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait)));
                    Iterator<SelectionKey> keys = s.selectedKeys().iterator();
                    while (keys.hasNext()) {
                        SelectionKey key = keys.next();
                        keys.remove();
                        if (key.isValid()) {
                            ready((Probe) key.attachment(), key);
                        }
                    }
                }
            }
        }

        private void launch(Selector s, long due) {
            Probe p = new Probe(due, request(mix.next()));
            all.add(p);
            inFlight.add(p);
            sent++;
            try {
                p.channel = SocketChannel.open();
                open.add(p.channel);
                p.channel.configureBlocking(false);
                p.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                p.channel.bind(new java.net.InetSocketAddress(PROBE_ADDRESS, 0));
                if (p.channel.connect(address)) {
                    p.channel.register(s, SelectionKey.OP_WRITE, p);
                } else {
                    p.channel.register(s, SelectionKey.OP_CONNECT, p);
                }
            } catch (IOException e) {
                outcome(p, "no answer (" + e.getClass().getSimpleName() + ")", System.nanoTime());
            }
        }

        private void ready(Probe p, SelectionKey key) {
            long now = System.nanoTime();
            try {
                if (key.isConnectable()) {
                    p.channel.finishConnect();
                    key.interestOps(SelectionKey.OP_WRITE);
                } else if (key.isWritable()) {
                    p.channel.write(p.request);
                    if (!p.request.hasRemaining()) {
                        key.interestOps(SelectionKey.OP_READ);
                    }
                } else if (key.isReadable()) {
                    readBuffer.clear();
                    int n = p.channel.read(readBuffer);
                    if (n < 0) {
                        if (p.outcome == null) {
                            outcome(p, p.answer.length() == 0 ? "closed without an answer" : status(p.answer), now);
                        }
                        closeProbe(p);
                        return;
                    }
                    if (p.outcome == null) {
                        p.answer.append(new String(readBuffer.array(), 0, n, StandardCharsets.ISO_8859_1));
                        if (p.answer.indexOf("\r\n") >= 0) {
                            outcome(p, status(p.answer), now);
                        }
                    }
                }
            } catch (IOException e) {
                if (p.outcome == null) {
                    outcome(p, "no answer (" + e.getClass().getSimpleName() + ")", now);
                }
                closeProbe(p);
            }
        }

        private void outcome(Probe p, String outcome, long now) {
            p.outcome = outcome;
            p.answeredAt = now;
            if (outcome.chars().allMatch(Character::isDigit)) {
                p.latency = now - p.due;
            }
            if ("200".equals(outcome)) {
                ok++;
                if (p.latency <= TimeUnit.SECONDS.toNanos(1)) {
                    okWithinSecond++;
                }
            } else {
                notOk.merge(outcome, 1, Integer::sum);
            }
        }

        private void closeProbe(Probe p) {
            if (p.channel != null) {
                close(p.channel);
                p.channel = null;
            }
        }
    }

    // ------------------------------------------------------------------------------------------- recovery

    /** After the attack: a signed notification every 200 ms until one is answered 200, at most 30 s. */
    private String recovery() throws InterruptedException {
        long start = System.nanoTime();
        Map<String, Integer> answers = new LinkedHashMap<>();
        while (System.nanoTime() - start < RECOVERY) {
            String answer = postBlocking(mix.next());
            if ("200".equals(answer)) {
                return String.format("200 %.1f s after the attack%s", (System.nanoTime() - start) / 1e9,
                        answers.isEmpty() ? "" : " (before it " + answers + ")");
            }
            answers.merge(answer, 1, Integer::sum);
            Thread.sleep(200);
        }
        return "NO 200 within 30 s after the attack: " + answers;
    }

    private String postBlocking(NotificationMix.Delivery d) {
        try (Socket socket = new Socket()) {
            socket.connect(address, 2_000);
            socket.setSoTimeout((int) TimeUnit.SECONDS.toMillis(PROBE_TIMEOUT_SECONDS));
            OutputStream out = socket.getOutputStream();
            out.write(request(d));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder answer = new StringBuilder();
            int b;
            while (answer.indexOf("\r\n") < 0 && (b = in.read()) != -1) {
                answer.append((char) b);
            }
            return answer.length() == 0 ? "closed without an answer" : status(answer);
        } catch (java.net.SocketTimeoutException e) {
            return "no answer within " + PROBE_TIMEOUT_SECONDS + " s";
        } catch (IOException e) {
            return "no answer (" + e.getClass().getSimpleName() + ")";
        }
    }

    // ------------------------------------------------------------------------------------------- helpers

    private byte[] request(NotificationMix.Delivery d) {
        byte[] body = d.body().getBytes(StandardCharsets.UTF_8);
        byte[] head = ("POST " + path() + " HTTP/1.1\r\nHost: " + hostHeader() + "\r\n"
                + "Content-Type: application/json\r\nX-Nylas-Signature: " + d.signature() + "\r\n"
                + "Content-Length: " + body.length + "\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] request = Arrays.copyOf(head, head.length + body.length);
        System.arraycopy(body, 0, request, head.length, body.length);
        return request;
    }

    private String path() {
        return uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    }

    private String hostHeader() {
        return uri.getHost() + ":" + uri.getPort();
    }

    /** The status code of an answer's first line ("HTTP/1.1 413 ..."), or what the line was. */
    private static String status(CharSequence answer) {
        String line = answer.toString().split("\r\n", 2)[0];
        String[] parts = line.split(" ", 3);
        return parts.length >= 2 && parts[0].startsWith("HTTP/") ? parts[1] : "not HTTP: " + line;
    }

    private void close(SocketChannel c) {
        closeQuietly(c);
        open.remove(c);
    }

    private static void closeQuietly(SocketChannel c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    /** This JVM's open file descriptors (Linux), -1 where unknown. */
    static int openFileDescriptors() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            return -1;
        }
    }
}
