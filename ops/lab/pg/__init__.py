"""The lab's PostgreSQL side: the local HA cluster lab-pg (its servers, WAL archive, restores, backup
verification, heartbeat), the PgBouncer pooler, the `localpg` target kind and the janitor's lab-pg
sources. The AWS side's Aurora builds its servers from these parts; nothing here imports the AWS side."""
