-- Partitions (issue 19): independent collections of studies, each with its own index (a
-- schema `p_{name}` of this database) and blob prefix (`partitions/{name}/`). This registry,
-- in the default partition's schema, is how every node knows them. The default partition is
-- not listed: it is the plain routes. (Partition schemas get this table too, unused.)
CREATE TABLE partitions (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL
);

-- API keys limited to partitions: comma-separated names ("default" for the plain routes);
-- NULL: every partition.
ALTER TABLE api_keys ADD COLUMN partitions TEXT;

-- The partition a request named (NULL: the default partition, or not about one).
ALTER TABLE audit_events ADD COLUMN partition_name TEXT;
