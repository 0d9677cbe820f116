package dev.calsync.bench;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.DriverManager;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.calsync.support.PostgresServer;
import org.springframework.util.FileSystemUtils;

/**
 * The recipe's plain Node handler ({@code ../shared/bench/recipe-handler}, or {@code -Dload.recipe-dir}) as a process
 * of its own: copied to {@code target/load/recipe-handler}, {@code npm ci} there, its schema in a database of its own
 * on the benchmark's PostgreSQL, the same Redis with its own key prefix.
 */
final class RecipeHandler implements AutoCloseable {

    static final String DATABASE = "recipe";

    private final Path dir;
    private final Path log;
    private final int port;
    private final Map<String, String> environment;
    private final Thread killOnExit = new Thread(this::kill, "kill-recipe-handler");
    private volatile Process process;
    private volatile long startedNanos;

    private RecipeHandler(Path dir, Path log, int port, Map<String, String> environment) {
        this.dir = dir;
        this.log = log;
        this.port = port;
        this.environment = environment;
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    /** Copies and installs the handler and creates its database; does not start it. */
    static RecipeHandler prepare(Path source, Path work, PostgresServer postgres, int redisPort, int port,
                                 String secret) throws Exception {
        Path dir = work.resolve("recipe-handler");
        FileSystemUtils.deleteRecursively(dir);
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        Path npmLog = work.resolve("recipe-handler-npm.log");
        List<String> install = Files.exists(dir.resolve("package-lock.json"))
                ? List.of("npm", "ci", "--no-audit", "--no-fund") : List.of("npm", "install", "--no-audit", "--no-fund");
        Process npm = new ProcessBuilder(install).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(npmLog.toFile()).start();
        if (!npm.waitFor(5, TimeUnit.MINUTES) || npm.exitValue() != 0) {
            npm.destroyForcibly();
            throw new IllegalStateException(String.join(" ", install) + " failed: " + Files.readString(npmLog));
        }
        postgres.createDatabase(DATABASE);
        try (var c = DriverManager.getConnection(postgres.jdbcUrl(DATABASE), PostgresServer.USER, "");
             var st = c.createStatement()) {
            st.execute(Files.readString(dir.resolve("schema.sql")));
        }
        return new RecipeHandler(dir, work.resolve("recipe-handler.log"), port, Map.of(
                "PORT", String.valueOf(port), "HOST", "127.0.0.1", "SECRET", secret,
                "PGHOST", "127.0.0.1", "PGPORT", String.valueOf(postgres.port()), "PGUSER", PostgresServer.USER,
                "PGPASSWORD", "unused", "PGDATABASE", DATABASE,
                "REDIS_URL", "redis://127.0.0.1:" + redisPort, "REDIS_PREFIX", "recipe:ntf:"));
    }

    void start() throws IOException {
        ProcessBuilder builder = new ProcessBuilder("node", "server.js").directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(environment);
        startedNanos = System.nanoTime();
        process = builder.start();
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    long startedNanos() {
        return startedNanos;
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    private void kill() {
        Process running = process;
        if (running != null) {
            running.destroy();
            try {
                if (!running.waitFor(5, TimeUnit.SECONDS)) {
                    running.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                running.destroyForcibly();
            }
        }
    }

    @Override
    public void close() {
        kill();
        Runtime.getRuntime().removeShutdownHook(killOnExit);
    }
}
