package dev.calsync.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.util.LinkedHashMap;
import java.util.Map;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import redis.embedded.RedisServer;

/**
 * Real PostgreSQL and Redis servers on loopback, started once per JVM (tests and the sandbox share this): no
 * Docker, no installation.
 */
public final class EmbeddedServers {

    private static EmbeddedPostgres postgres;
    private static RedisServer redis;
    private static int redisPort;

    private EmbeddedServers() {
    }

    public static synchronized EmbeddedPostgres postgres() {
        if (postgres == null) {
            postgres = startPostgres();
        }
        return postgres;
    }

    /** A PostgreSQL of its own, for tests that stop it. */
    public static EmbeddedPostgres startPostgres() {
        try {
            return EmbeddedPostgres.builder()
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    .setServerConfig("max_connections", "200")
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static synchronized int redisPort() {
        if (redis == null) {
            redisPort = freePort();
            startRedis();
        }
        return redisPort;
    }

    public static synchronized void startRedis() {
        try {
            redis = RedisServer.newRedisServer().port(redisPort).bind("127.0.0.1")
                    .setting("save \"\"").setting("appendonly no").build();
            redis.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static synchronized void stopRedis() {
        try {
            redis.stop();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A new, empty database on the shared server, for a test that runs a service of its own. */
    public static String newDatabase(String name) {
        try (java.sql.Connection c = postgres().getPostgresDatabase().getConnection();
             java.sql.Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            st.execute("CREATE DATABASE " + name);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
        return postgres().getJdbcUrl("postgres", name);
    }

    public static String jdbcUrl(EmbeddedPostgres pg) {
        return pg.getJdbcUrl("postgres", "postgres");
    }

    /** Spring properties pointing the service at the shared embedded servers. */
    public static Map<String, String> springProperties() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("spring.datasource.url", jdbcUrl(postgres()));
        p.put("spring.datasource.username", "postgres");
        p.put("spring.datasource.password", "postgres");
        p.put("spring.data.redis.url", "redis://127.0.0.1:" + redisPort());
        return p;
    }

    public static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
