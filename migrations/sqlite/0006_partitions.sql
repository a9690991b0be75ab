-- Partitions (issue 19): independent collections of studies, each with its own index (a
-- database file beside this one) and blob prefix (`partitions/{name}/`). This registry, in
-- the default partition's index, is how every node knows them. The default partition is
-- not listed: it is the plain routes. (Partition indexes get this table too, unused.)
CREATE TABLE partitions (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

-- API keys limited to partitions: comma-separated names ("default" for the plain routes);
-- NULL: every partition.
ALTER TABLE api_keys ADD COLUMN partitions TEXT;

-- The partition a request named (NULL: the default partition, or not about one).
ALTER TABLE audit_events ADD COLUMN partition_name TEXT;
