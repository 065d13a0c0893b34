"""Monthly cost of a Terraform plan, per resource, from a versioned price catalog and usage assumptions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ops.errors import ConfigError

CATALOG_PATH = Path(__file__).with_name("prices.json")
DEFAULT_USAGE_PATH = Path(__file__).with_name("usage.toml")
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Line:
    address: str
    type: str
    usd: float
    basis: str


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    catalog_version: str

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def usage_path(root: Path) -> Path:
    """cost-usage.toml at the repository root when the user keeps one, else the built-in assumptions."""
    own = root / "cost-usage.toml"
    return own if own.exists() else DEFAULT_USAGE_PATH


def load_usage(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"usage assumptions file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None


class Pricer:
    def __init__(self, catalog: dict[str, Any], usage: dict[str, Any]) -> None:
        self.prices = catalog["prices"]
        self.usage = usage

    def price(self, key: str) -> float:
        try:
            return float(self.prices[key]["usd"])
        except KeyError:
            raise ConfigError(f"the price catalog has no price '{key}' (run `dbops cost prices --refresh` or add it)") from None

    def use(self, section: str, key: str, table: str | None = None) -> float:
        base = self.usage.get(section, {})
        if table is not None:
            specific = base.get("tables", {}).get(table, {})
            if key in specific:
                return float(specific[key])
        if key not in base:
            raise ConfigError(f"usage assumptions lack '{section}.{key}'")
        return float(base[key])

    def line(self, rc: dict[str, Any]) -> Line | None:
        after = rc["change"]["after"] or {}
        kind, address = rc["type"], rc["address"]
        if kind == "aws_rds_cluster_instance":
            key = f"rds.aurora-postgresql.{after['instance_class']}"
            return Line(address, kind, self.price(key) * HOURS_PER_MONTH, f"{after['instance_class']} x {HOURS_PER_MONTH} h")
        if kind == "aws_rds_cluster":
            gb, io, bk = self.use("aurora", "storage_gb"), self.use("aurora", "io_million_per_month"), self.use("aurora", "backup_gb")
            usd = gb * self.price("rds.aurora.storage") + io * self.price("rds.aurora.io") + bk * self.price("rds.aurora.backup_storage")
            return Line(address, kind, usd, f"{gb:g} GB storage, {io:g} M I/O, {bk:g} GB backup")
        if kind == "aws_dynamodb_table":
            name = after.get("name")
            gb = self.use("dynamodb", "storage_gb", name)
            usd = gb * self.price("dynamodb.storage")
            basis = [f"{gb:g} GB"]
            if after.get("billing_mode", "PROVISIONED") == "PAY_PER_REQUEST":
                w, r = self.use("dynamodb", "write_million_per_month", name), self.use("dynamodb", "read_million_per_month", name)
                usd += w * self.price("dynamodb.ondemand.write") + r * self.price("dynamodb.ondemand.read")
                basis.append(f"{w:g} M writes, {r:g} M reads")
            else:
                wcu, rcu = float(after.get("write_capacity") or 0), float(after.get("read_capacity") or 0)
                usd += (wcu * self.price("dynamodb.provisioned.wcu") + rcu * self.price("dynamodb.provisioned.rcu")) * HOURS_PER_MONTH
                basis.append(f"{wcu:g} WCU, {rcu:g} RCU")
            pitr = after.get("point_in_time_recovery") or []
            if pitr and pitr[0].get("enabled"):
                usd += gb * self.price("dynamodb.pitr")
                basis.append("PITR")
            return Line(address, kind, usd, ", ".join(basis))
        if kind == "aws_backup_vault":
            gb = self.use("backup", "storage_gb")
            return Line(address, kind, gb * self.price("backup.storage"), f"{gb:g} GB recovery points")
        if kind == "aws_kms_key":
            return Line(address, kind, self.price("kms.key"), "1 key")
        if kind == "aws_cloudwatch_metric_alarm":
            metrics = sum(1 for q in after.get("metric_query") or [] if q.get("metric")) or 1
            return Line(address, kind, metrics * self.price("cloudwatch.alarm_metric"), f"{metrics} metric(s)")
        if kind == "aws_secretsmanager_secret":
            return Line(address, kind, self.price("secretsmanager.secret"), "1 secret")
        return None


def estimate(plan: dict[str, Any], catalog: dict[str, Any], usage: dict[str, Any]) -> Estimate:
    """Every resource the plan keeps or creates (deletions cost nothing), priced."""
    pricer = Pricer(catalog, usage)
    lines = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") != "managed" or rc["change"]["actions"] == ["delete"]:
            continue
        line = pricer.line(rc)
        if line is not None:
            lines.append(line)
    return Estimate(tuple(sorted(lines, key=lambda l: -l.usd)), catalog["version"])
