package dev.calsync.autoconfigure;

import java.util.List;

import dev.calsync.config.CalsyncProperties;
import dev.calsync.support.EmbeddedServers;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * calsync's own Flyway: its tables in a schema of its own when {@code calsync.database.schema} names one, which the
 * connection must look in, since calsync's SQL names tables without a schema.
 */
class CalsyncDatabaseTest {

    @Test
    void aSchemaOfItsOwnHoldsCalsyncsTablesAndHistory() {
        String url = EmbeddedServers.newDatabase("calsync_schema_on_path") + "&currentSchema=sync,public";
        JdbcTemplate jdbc = new JdbcTemplate(dataSource(url));

        migrate(jdbc, "sync");

        assertThat(jdbc.queryForList("SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync'",
                String.class)).contains("webhook_inbox", "event_sync_map", "calsync_schema_history");
        assertThat(jdbc.queryForObject("SELECT count(*) FROM webhook_inbox", Integer.class)).isZero();
    }

    @Test
    void aSchemaTheConnectionDoesNotLookInIsRefusedAtStartWithWhatToDo() {
        JdbcTemplate jdbc = new JdbcTemplate(dataSource(EmbeddedServers.newDatabase("calsync_schema_off_path")));

        assertThatThrownBy(() -> migrate(jdbc, "sync"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("calsync.database.schema 'sync' is not on the database connection's search_path")
                .hasMessageContaining("currentSchema=sync,public");
    }

    @Test
    void noSchemaMeansTheConnectionsDefault() {
        JdbcTemplate jdbc = new JdbcTemplate(dataSource(EmbeddedServers.newDatabase("calsync_schema_default")));

        migrate(jdbc, "");

        assertThat(jdbc.queryForList("SELECT table_schema FROM information_schema.tables"
                + " WHERE table_name = 'webhook_inbox'", String.class)).isEqualTo(List.of("public"));
    }

    private static void migrate(JdbcTemplate jdbc, String schema) {
        new CalsyncDatabase.Migrations(jdbc.getDataSource(),
                new CalsyncProperties.Database(true, "calsync_schema_history", schema)).afterPropertiesSet();
    }

    private static DriverManagerDataSource dataSource(String url) {
        return new DriverManagerDataSource(url, "postgres", "postgres");
    }
}
