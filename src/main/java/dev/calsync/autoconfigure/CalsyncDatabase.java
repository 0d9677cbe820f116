package dev.calsync.autoconfigure;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

import javax.sql.DataSource;

import dev.calsync.config.CalsyncProperties;
import org.flywaydb.core.Flyway;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.flyway.FlywayMigrationInitializer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * calsync's tables, migrated by a Flyway of its own: its scripts ({@code classpath:calsync/db/migration}) and its
 * history table ({@code calsync.database.history-table}), so an application's own Flyway, scripts and history stay
 * its own. Not a {@code Flyway} bean: that would switch Spring Boot's Flyway for the application off.
 */
@Configuration(proxyBeanMethods = false)
public class CalsyncDatabase {

    /** The migrations run when this bean is created, before any route that uses the tables starts. */
    public static final class Migrations implements InitializingBean {

        private final DataSource dataSource;
        private final CalsyncProperties.Database database;

        public Migrations(DataSource dataSource, CalsyncProperties.Database database) {
            this.dataSource = dataSource;
            this.database = database;
        }

        @Override
        public void afterPropertiesSet() {
            if (!database.migrate()) {
                return;
            }
            // a schema the application's own migrations already use has no calsync history yet: calsync's starts
            // below its first script (baseline 0), so every script still runs
            var config = Flyway.configure().dataSource(dataSource).locations("classpath:calsync/db/migration")
                    .table(database.historyTable()).baselineOnMigrate(true).baselineVersion("0");
            if (!database.schema().isBlank()) {
                config.schemas(database.schema()).defaultSchema(database.schema());
            }
            config.load().migrate();
            requireOnSearchPath(database.schema());
        }

        /**
         * calsync's SQL names its tables without a schema: a schema of its own works only where the connection looks
         * there. Refuses to start otherwise, rather than failing on every query later.
         */
        private void requireOnSearchPath(String schema) {
            if (schema.isBlank()) {
                return;
            }
            try (Connection connection = dataSource.getConnection();
                 PreparedStatement query = connection.prepareStatement(
                         "SELECT ? = ANY (current_schemas(false)), array_to_string(current_schemas(false), ',')")) {
                query.setString(1, schema);
                try (ResultSet row = query.executeQuery()) {
                    row.next();
                    if (!row.getBoolean(1)) {
                        throw new IllegalStateException("calsync.database.schema '" + schema
                                + "' is not on the database connection's search_path (" + row.getString(2)
                                + "): add currentSchema=" + schema + ",public to the JDBC URL, or set the role's"
                                + " search_path");
                    }
                }
            } catch (SQLException e) {
                throw new IllegalStateException("could not read the database connection's search_path", e);
            }
        }
    }

    /**
     * After the application's own Flyway (Spring Boot's, if it has one): its migrations meet the schema as they
     * expect it, without calsync's tables.
     */
    @Bean
    Migrations calsyncMigrations(DataSource dataSource, CalsyncProperties properties,
                                 ObjectProvider<FlywayMigrationInitializer> applicationMigrations) {
        applicationMigrations.ifAvailable(initializer -> { });
        return new Migrations(dataSource, properties.database());
    }
}
