package dev.calsync.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.springframework.util.FileSystemUtils;

/**
 * A real PostgreSQL server of a suite's own (the crash suite, the load benchmark), on loopback, driven with {@code pg_ctl} the way an operator
 * would: {@link #stopImmediately()} is {@code pg_ctl stop -m immediate} (no shutdown checkpoint; the next start runs
 * crash recovery) and {@link #start()} brings it back on the same port and data directory. Its settings are
 * PostgreSQL's defaults, as in production ({@code fsync} and {@code synchronous_commit} on).
 *
 * <p>The binaries are, in this order: {@code -Dcrash.postgres.bin=<dir>}, the distribution's PostgreSQL 15
 * ({@code /usr/lib/postgresql/15/bin}, the version the container setup uses), or the ones the embedded PostgreSQL
 * of the other tests extracts ({@code -Dcrash.postgres.bin=embedded} forces those). PostgreSQL refuses to run as
 * root; when the suite runs as root, the server runs as the {@code postgres} user, or {@code nobody} where there is
 * none (through {@code runuser}). {@code -Dcrash.postgres.conf=synchronous_commit=off,...} adds settings (to see
 * what the suite catches with them).
 */
public final class PostgresServer implements AutoCloseable {

    public static final String DATABASE = "calsync";
    /** The database superuser (trust authentication: loopback only, and a cluster of the suite's own). */
    public static final String USER = "postgres";

    private static final Path DISTRIBUTION_BINARIES = Path.of("/usr/lib/postgresql/15/bin");

    private final Path bin;
    private final List<String> runAs;
    private final Path home;
    private final Path data;
    private final Path log;
    private final Path keptLog;
    private final int port;
    private final Thread stopOnExit = new Thread(this::stopIfRunning, "stop-crash-postgres");

    private PostgresServer(Path bin, List<String> runAs, Path home, int port, Path keptLog) {
        this.keptLog = keptLog;
        this.bin = bin;
        this.runAs = runAs;
        this.home = home;
        this.data = home.resolve("data");
        this.log = home.resolve("postgres.log");
        this.port = port;
    }

    /**
     * The crash suite's server: its log is kept in {@code target/crash/postgres.log}, {@code -Dcrash.postgres.conf}
     * adds settings.
     */
    public static PostgresServer create() throws IOException {
        return create(Path.of("target", "crash", "postgres.log"),
                List.of(System.getProperty("crash.postgres.conf", "").split(",")));
    }

    /**
     * Creates a cluster in a new temporary directory, starts it and creates the service's database.
     *
     * @param keptLog  where {@link #close()} copies the server's log
     * @param settings {@code name=value} lines appended to {@code postgresql.conf} (they win over the ones before)
     */
    public static PostgresServer create(Path keptLog, List<String> settings) throws IOException {
        Path bin = binaries();
        Path home = Files.createTempDirectory("calsync-crash-postgres");
        List<String> runAs = List.of();
        if ("root".equals(System.getProperty("user.name"))) {
            String owner = userExists("postgres") ? "postgres" : "nobody";
            runAs = List.of("runuser", "-u", owner, "--");
            Files.setOwner(home, home.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(owner));
        }
        PostgresServer server = new PostgresServer(bin, runAs, home, EmbeddedServers.freePort(), keptLog);
        server.run("initdb", "-D", server.data.toString(), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale");
        Files.writeString(server.data.resolve("postgresql.conf"), String.join("\n",
                "", "# the crash suite: loopback only, TCP only",
                "listen_addresses = '127.0.0.1'",
                "port = " + server.port,
                "unix_socket_directories = ''",
                "max_connections = 50", "",
                "# the suite's own settings (the crash suite: -Dcrash.postgres.conf=name=value,...)",
                String.join("\n", settings), ""),
                StandardOpenOption.APPEND);
        Runtime.getRuntime().addShutdownHook(server.stopOnExit);
        server.start();
        server.createDatabase(DATABASE);
        return server;
    }

    /** Creates another database on this server (for a neighbour of the service's, measured in the same run). */
    public void createDatabase(String name) {
        try (var c = DriverManager.getConnection(jdbcUrl("postgres"), USER, "");
             var st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    public String jdbcUrl() {
        return jdbcUrl(DATABASE);
    }

    public String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    public int port() {
        return port;
    }

    /** A client program of this installation ({@code pgbench}, {@code psql}); clients may run as any user. */
    public Path program(String name) {
        return bin.resolve(name);
    }

    public String version() {
        return bin + " (" + run("postgres", "--version").trim() + ")";
    }

    public void start() {
        run("pg_ctl", "start", "-D", data.toString(), "-l", log.toString(), "-w", "-t", "120");
    }

    /**
     * {@code pg_ctl stop -m immediate}: every server process quits at once, without a shutdown checkpoint; the next
     * start runs crash recovery from the write-ahead log.
     */
    public void stopImmediately() {
        run("pg_ctl", "stop", "-D", data.toString(), "-m", "immediate", "-w");
    }

    /** Stops the server and deletes its files, keeping its log where {@link #create(Path, List)} was told. */
    @Override
    public void close() throws IOException {
        stopIfRunning();
        Runtime.getRuntime().removeShutdownHook(stopOnExit);
        Files.createDirectories(keptLog.toAbsolutePath().getParent());
        Files.copy(log, keptLog, StandardCopyOption.REPLACE_EXISTING);
        FileSystemUtils.deleteRecursively(home);
    }

    private void stopIfRunning() {
        if (Files.exists(data.resolve("postmaster.pid"))) {
            run("pg_ctl", "stop", "-D", data.toString(), "-m", "fast", "-w");
        }
    }

    /** Runs a PostgreSQL program (as the server's user) and returns its output; fails when it fails. */
    private String run(String program, String... args) {
        List<String> command = new ArrayList<>(runAs);
        command.add(bin.resolve(program).toString());
        command.addAll(List.of(args));
        try {
            Path out = Files.createTempFile("calsync-crash-pg", ".out");
            try {
                // to a file, not a pipe: the server pg_ctl leaves running must not hold our end open
                Process process = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(out.toFile()).start();
                if (!process.waitFor(180, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IllegalStateException(program + " did not finish: " + String.join(" ", command));
                }
                String output = Files.readString(out);
                if (process.exitValue() != 0) {
                    throw new IllegalStateException(program + " failed (" + process.exitValue() + "): " + output);
                }
                return output;
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Path binaries() throws IOException {
        String chosen = System.getProperty("crash.postgres.bin", "");
        if (!chosen.isBlank() && !"embedded".equals(chosen)) {
            return Path.of(chosen);
        }
        if (chosen.isBlank() && Files.isExecutable(DISTRIBUTION_BINARIES.resolve("pg_ctl"))) {
            return DISTRIBUTION_BINARIES;
        }
        // starting the embedded PostgreSQL once extracts its binaries to its working directory
        EmbeddedServers.startPostgres().close();
        Path extracted = Path.of(System.getProperty("ot.epg.working-dir",
                Path.of(System.getProperty("java.io.tmpdir"), "embedded-pg").toString()));
        try (Stream<Path> dirs = Files.list(extracted)) {
            return dirs.map(d -> d.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("pg_ctl")))
                    .max(Comparator.comparing(b -> b.toFile().lastModified()))
                    .orElseThrow(() -> new IllegalStateException("no PostgreSQL binaries in " + extracted));
        }
    }

    private static boolean userExists(String name) {
        try {
            FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName(name);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
