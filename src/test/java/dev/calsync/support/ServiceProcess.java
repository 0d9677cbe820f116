package dev.calsync.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The packaged service ({@code java -jar target/calsync-*.jar}) as an operating-system process of its own, always on
 * the same port, so the suite can kill it with SIGKILL and start it again. Each start is a new generation; its output
 * goes to {@code service-<generation>.log} in the log directory. Secrets are passed in the environment, never on
 * the command line. Shared by the crash suite and the load benchmark.
 */
public final class ServiceProcess implements AutoCloseable {

    private final Path jar;
    private final Path logs;
    private final int port;
    private final int webhookPort;
    private final int managementPort;
    private final List<String> jvmOptions;
    private final List<String> arguments;
    private final Map<String, String> environment;
    /** The generations that have acknowledged a notification: they are past their start-up. */
    private final Set<Integer> serving = ConcurrentHashMap.newKeySet();
    private final Thread killOnExit = new Thread(this::kill, "kill-crash-service");
    private volatile Process process;
    private volatile int generation;
    private volatile long startedNanos;

    public ServiceProcess(Path jar, Path logs, int port, Map<String, String> properties,
                          Map<String, String> environment) {
        this(jar, logs, port, List.of("-Xmx384m", "-XX:+UseSerialGC"), properties, environment);
    }

    public ServiceProcess(Path jar, Path logs, int port, List<String> jvmOptions, Map<String, String> properties,
                          Map<String, String> environment) {
        this.jar = jar;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.logs = logs;
        this.port = port;
        this.webhookPort = EmbeddedServers.freePort();
        this.managementPort = EmbeddedServers.freePort();
        this.arguments = new ArrayList<>(List.of("--server.port=" + port,
                "--calsync.webhook.listener.port=" + webhookPort, "--management.server.port=" + managementPort,
                // on loopback only
                "--server.address=127.0.0.1", "--calsync.webhook.listener.bind-address=127.0.0.1",
                "--management.server.address=127.0.0.1"));
        properties.forEach((k, v) -> arguments.add("--" + k + "=" + v));
        this.environment = environment;
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    /**
     * The packaged service: {@code -D<property>=<path>} (Maven passes it), else the only {@code target/calsync-*.jar}.
     */
    public static Path packagedJar(String property) throws IOException {
        String given = System.getProperty(property);
        if (given != null && !given.isBlank()) {
            return Path.of(given).toAbsolutePath();
        }
        try (Stream<Path> files = Files.list(Path.of("target"))) {
            return files.filter(p -> p.getFileName().toString().matches("calsync-.*\\.jar")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no target/calsync-*.jar: run ./mvnw package"))
                    .toAbsolutePath();
        }
    }

    /**
     * The {@code java} the service runs on: system property {@code service.java-home} (a JDK's or JRE's directory,
     * e.g. to measure the container's Java 25 form), else this JVM's.
     */
    public static Path java() {
        return Path.of(System.getProperty("service.java-home", System.getProperty("java.home")), "bin", "java");
    }

    /** The feature release of {@link #java()} (17, 21, 25...), from its {@code release} file. */
    public static int javaFeature() throws IOException {
        Path release = java().getParent().getParent().resolve("release");
        for (String line : Files.readAllLines(release)) {
            if (line.startsWith("JAVA_VERSION=")) {
                String version = line.substring("JAVA_VERSION=".length()).replace("\"", "");
                return Integer.parseInt(version.split("[.+-]")[0]);
            }
        }
        throw new IllegalStateException("no JAVA_VERSION in " + release);
    }

    public URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    /** An actuator path ({@code /actuator/...}) on the management port (the same port on every start). */
    public URI managementUrl(String path) {
        return URI.create("http://127.0.0.1:" + managementPort + path);
    }

    /** The webhook on its own listener (the same port on every start). */
    public URI webhookUrl() {
        return URI.create("http://127.0.0.1:" + webhookPort + "/webhooks/nylas");
    }

    public synchronized void start() {
        int next = generation + 1;
        List<String> command = new ArrayList<>(List.of(java().toString()));
        command.addAll(jvmOptions);
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(arguments);
        try {
            Files.createDirectories(logs);
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(logs.resolve("service-" + next + ".log").toFile());
            builder.environment().putAll(environment);
            startedNanos = System.nanoTime();
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        generation = next;
    }

    /** {@code kill -9}: the process gets no chance to finish anything. Waits until it is gone. */
    public synchronized void kill() {
        Process running = process;
        if (running != null) {
            running.destroyForcibly();
            running.onExit().join();
        }
    }

    public int generation() {
        return generation;
    }

    public void acknowledgedBy(int generation) {
        serving.add(generation);
    }

    /** Whether this generation had not yet acknowledged anything: it may still be starting. */
    public boolean startingUp(int generation) {
        return !serving.contains(generation);
    }

    public boolean alive() {
        Process running = process;
        return running != null && running.isAlive();
    }

    /** {@link System#nanoTime()} just before the current generation's process was started. */
    public long startedNanos() {
        return startedNanos;
    }

    /** The operating-system process id of the current generation. */
    public long pid() {
        return process.pid();
    }

    @Override
    public void close() {
        kill();
        Runtime.getRuntime().removeShutdownHook(killOnExit);
    }
}
