"""Query performance on the PostgreSQL data plane (Aurora and lab-pg alike).

- `sqltext`: statement text fit for a report — pg_stat_statements' normalized text with
  comments and any literal left in it removed.
- `stats`: a read-only session and what `dbops query audit` reads through it
  (pg_stat_statements, pg_stat_user_tables/_indexes, the statistics window).
- `plans`: generic plans of normalized statements (PREPARE + force_generic_plan + EXPLAIN
  EXECUTE with NULL parameters), the sequential scans in them, and hypothetical indexes
  (hypopg) as evidence for missing-index advice.
- `audit`: the verdicts, pure functions of what was read and the policy.
- `pgbench`: running pgbench custom scripts and reading its per-transaction log.
- `endpoints`: the DSN of a cluster target's writer or reader endpoint, and a probe of it.
- `answer`: the bounds of an answer of rows (row limit, 8 KB a value, 1 MB in all, fetched in small batches).
"""
