"""What a `dbops mcp` server was started with; every tool reads it, none changes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class McpSettings:
    config_path: Path | None  # dbops.toml, as `dbops --config` takes it (None: the default search)
    env: str  # the env every tool acts in
    protected: bool  # the env's own flag: a protected env never runs drills or the janitor over MCP
    report_dir: Path  # where reports are read and the audit log is written
    allow_drills: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (KIND, NAME) pairs
    allow_paid_requests: bool = False  # Cost Explorer requests cost money: cache only unless set
    sql_row_limit: int = 500
    sql_statement_timeout_ms: int = 5000
    lake_max_bytes: int = 1_000_000_000
