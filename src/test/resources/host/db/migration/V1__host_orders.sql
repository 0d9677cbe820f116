-- the host application's own table, migrated by its own Flyway (spring.flyway.*)
CREATE TABLE host_order (
    id    BIGSERIAL PRIMARY KEY,
    item  TEXT NOT NULL
);
