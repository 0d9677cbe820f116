package dev.calsync.crash;

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

/**
 * The packaged service ({@code java -jar target/calsync-*.jar}) as an operating-system process of its own, always on
 * the same port, so the suite can kill it with SIGKILL and start it again. Each start is a new generation; its output
 * goes to {@code service-<generation>.log} in the log directory. Secrets are passed in the environment, never on
 * the command line.
 */
final class ServiceProcess implements AutoCloseable {

    private final Path jar;
    private final Path logs;
    private final int port;
    private final List<String> arguments;
    private final Map<String, String> environment;
    /** The generations that have acknowledged a notification: they are past their start-up. */
    private final Set<Integer> serving = ConcurrentHashMap.newKeySet();
    private final Thread killOnExit = new Thread(this::kill, "kill-crash-service");
    private volatile Process process;
    private volatile int generation;

    ServiceProcess(Path jar, Path logs, int port, Map<String, String> properties, Map<String, String> environment) {
        this.jar = jar;
        this.logs = logs;
        this.port = port;
        this.arguments = new ArrayList<>(List.of("--server.port=" + port));
        properties.forEach((k, v) -> arguments.add("--" + k + "=" + v));
        this.environment = environment;
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    synchronized void start() {
        int next = generation + 1;
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx384m", "-XX:+UseSerialGC", "-jar", jar.toString()));
        command.addAll(arguments);
        try {
            Files.createDirectories(logs);
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(logs.resolve("service-" + next + ".log").toFile());
            builder.environment().putAll(environment);
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        generation = next;
    }

    /** {@code kill -9}: the process gets no chance to finish anything. Waits until it is gone. */
    synchronized void kill() {
        Process running = process;
        if (running != null) {
            running.destroyForcibly();
            running.onExit().join();
        }
    }

    int generation() {
        return generation;
    }

    void acknowledgedBy(int generation) {
        serving.add(generation);
    }

    /** Whether this generation had not yet acknowledged anything: it may still be starting. */
    boolean startingUp(int generation) {
        return !serving.contains(generation);
    }

    boolean alive() {
        Process running = process;
        return running != null && running.isAlive();
    }

    @Override
    public void close() {
        kill();
        Runtime.getRuntime().removeShutdownHook(killOnExit);
    }
}
