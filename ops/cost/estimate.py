"""Monthly cost of a Terraform plan, per resource, from a versioned price catalog and usage assumptions.

Priced (prices from prices.json for the env's region, never another region's; quantities from the
usage assumptions, 730 hours a month):
- aws_rds_cluster: Aurora Standard storage + I/O + backup storage; I/O-Optimized
  (storage_type "aurora-iopt1"): the I/O-Optimized storage price and no I/O charge.
- aws_rds_cluster_instance: the class's instance-hour price; on an I/O-Optimized cluster
  times the catalog's I/O-Optimized factor (1.3). `db.serverless` (Aurora Serverless v2):
  ACU-hours = the assumed average ACUs (aurora.serverless_acu_average), held within the
  cluster's serverlessv2_scaling_configuration min..max, x 730, at the ACU-hour price.
  With the env's schedule ([envs.ENV.schedule]), instances (provisioned and Serverless v2) are
  priced for the window's hours in an average month (days x hours x 52/12) instead of 730; the
  cluster's storage, I/O and backup always.
  An instance finds its cluster by cluster_identifier, else by the plan's configuration
  reference, else as the only cluster of its module.
- aws_dynamodb_table: storage, on-demand requests or provisioned WCU/RCU (the table's and
  each global secondary index's), PITR.
- aws_backup_vault, aws_kms_key, aws_cloudwatch_metric_alarm, aws_secretsmanager_secret.
- aws_cloudwatch_log_group: the assumed GB ingested a month (logs.ingest_gb_per_month, per group
  name under logs.groups) and, at steady state, that much for each month of its retention stored.
  A group kept forever is unpriced: its storage grows without bound.
- aws_cloudwatch_event_target to an SNS topic (the runner's failed-task notice): nothing.
- aws_cloudwatch_event_target with an ECS Fargate task (module drill-runner): the rule's runs in
  a 730-hour month (from its cron or rate expression) x the assumed minutes a run
  (fargate.run_minutes, per target id under fargate.targets) x the task definition's vCPU and GB
  at the Fargate prices. The task definition is the one its ARN names, else the one its
  configuration refers to (when a for_each makes that several, they must agree on the size).
  The task definitions, the cluster and the rules cost nothing of their own.
- The analytics lake (module analytics-lake: resources tagged dbops:component = analytics-lake), from
  the `lake` usage assumptions, a month being 730/24 days:
  aws_s3_bucket: S3 Standard GB-month of the declared lake size, PUT requests of the declared runs
  (runs a day x PUTs a run) and GET requests of the runs and of the queries (queries a day x GETs a
  query); aws_athena_workgroup: queries a day x MB scanned a query, each billed at least the
  catalog's minimum (10 MB) and at most the workgroup's bytes_scanned_cutoff_per_query (Athena
  cancels the query there), at the price per TB (MB and TB as 2^20 and 2^40 bytes);
  aws_glue_catalog_database in the same module as the lake's bucket: the declared catalog objects
  and requests above the free tier (first million of each a month). The lake's key is an aws_kms_key.
  A bucket or workgroup without the tag, and a Glue database outside the lake's module, are unpriced:
  there are no usage assumptions for them.
- aws_db_proxy: RDS Proxy on provisioned Aurora is billed per vCPU-hour of the instances of
  the cluster it fronts (at least the catalog's minimum vCPUs): the proxy's aws_db_proxy_target
  names the cluster (by identifier, else by the configuration's references, followed through
  module variables and outputs), the cluster's instances give their classes, and
  INSTANCE_VCPUS their vCPUs.

Types with no charge of their own (NO_CHARGE, and non-AWS providers such as random_*) cost
nothing. Anything else is listed as unpriced, by address and with the reason: the total is
then a lower bound, and says so.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ops.cost.prices import catalog_version, regional, regions_of
from ops.errors import ConfigError, UsageError
from ops.window import Window

CATALOG_PATH = Path(__file__).with_name("prices.json")
DEFAULT_USAGE_PATH = Path(__file__).with_name("usage.toml")
HOURS_PER_MONTH = 730
IO_OPTIMIZED = "aurora-iopt1"
SERVERLESS_CLASS = "db.serverless"

# Resource types that carry no charge of their own (their cost, if any, is in another resource's line).
NO_CHARGE = frozenset({
    "aws_vpc", "aws_subnet", "aws_security_group", "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
    "aws_db_subnet_group", "aws_db_parameter_group", "aws_rds_cluster_parameter_group",
    "aws_iam_role", "aws_iam_policy", "aws_iam_role_policy", "aws_iam_role_policy_attachment",
    "aws_kms_alias", "aws_backup_plan", "aws_backup_selection", "aws_backup_vault_notifications",
    "aws_sns_topic_policy", "aws_sns_topic_subscription",
    "aws_s3_bucket_policy", "aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_appautoscaling_target", "aws_appautoscaling_policy", "aws_secretsmanager_secret_version",
    "aws_db_proxy_default_target_group", "aws_db_proxy_target",
    # Billed as the tasks EventBridge runs (their event targets' lines); scheduled rules are free.
    "aws_ecs_cluster", "aws_ecs_task_definition", "aws_cloudwatch_event_rule",
})
# vCPUs of the Aurora instance classes the catalog prices (Amazon Aurora User Guide, "Hardware
# specifications for DB instance classes for Aurora"); RDS Proxy is billed on them.
INSTANCE_VCPUS: dict[str, int] = {
    "db.t3.medium": 2, "db.t4g.medium": 2, "db.r6g.large": 2, "db.r6g.xlarge": 4,
}
# Providers whose resources are not billed by anyone.
NO_CHARGE_PROVIDERS = frozenset({"random", "null", "terraform", "time", "tls", "local", "archive", "external"})

# Usage assumptions: section -> keys; every value a finite number >= 0.
USAGE_KEYS: dict[str, tuple[str, ...]] = {
    "aurora": ("storage_gb", "io_million_per_month", "backup_gb", "serverless_acu_average"),
    "dynamodb": ("storage_gb", "write_million_per_month", "read_million_per_month"),
    "backup": ("storage_gb",),
    "fargate": ("run_minutes",),
    "logs": ("ingest_gb_per_month",),
    "lake": ("storage_gb", "runs_per_day", "put_requests_per_run", "get_requests_per_run", "queries_per_day",
             "scanned_mb_per_query", "get_requests_per_query", "catalog_objects", "catalog_requests_million_per_month"),
}
# Sections whose defaults one named thing may override: its own table under this key.
USAGE_OVERRIDES = {"dynamodb": "tables", "fargate": "targets", "logs": "groups"}
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
# The tag module analytics-lake puts on its resources: what the `lake` usage assumptions describe.
LAKE_TAG = ("dbops:component", "analytics-lake")
MB_PER_TB = 1024 * 1024
BYTES_PER_MB = 1024 * 1024
_MODULE_STEP = re.compile(r'module\.[A-Za-z0-9_-]+(?:\[(?:"(?:[^"\\]|\\.)*"|\d+)\])?\.')


@dataclass(frozen=True)
class Line:
    address: str
    type: str
    usd: float
    basis: str


@dataclass(frozen=True)
class Unpriced:
    address: str
    type: str
    reason: str


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    catalog_version: str
    unpriced: tuple[Unpriced, ...] = ()
    oldest_price: str = ""  # date of the oldest price in the catalog

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_module(self) -> dict[str, float]:
        """USD a month of each module of the plan (module.a, module.a.module.b, ...), a nested module's
        lines counted in every module that encloses it; lines outside any module are in none."""
        sums: dict[str, float] = {}
        for line in self.lines:
            prefix, rest = "", line.address
            while (step := _MODULE_STEP.match(rest)):
                prefix, rest = prefix + step.group(0), rest[step.end():]
                sums[prefix[:-1]] = sums.get(prefix[:-1], 0.0) + line.usd
        return dict(sorted(sums.items()))


class NotPriced(Exception):
    """This resource cannot be priced from the plan: the reason goes in the unpriced list."""


def user_catalog_path() -> Path:
    """Where `dbops cost prices --refresh` writes: the user's cache, never the installed package."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dbops" / "prices.json"


def _file_version(path: Path) -> str:
    return catalog_version({"regions": regions_of(json.loads(path.read_text()))})


def catalog_in_use() -> tuple[Path, str]:
    """The catalog file prices are read from, and why: the user's refreshed copy when there is one and it is
    not older than the shipped catalog (by version, the date of the newest price); otherwise the shipped one,
    so a copy refreshed long ago never hides the newer prices a new checkout ships."""
    user = user_catalog_path()
    if not user.is_file():
        return CATALOG_PATH, "shipped"
    try:
        mine, shipped = _file_version(user), _file_version(CATALOG_PATH)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return user, "refreshed copy"  # read again by load_catalog, which names what is wrong with it
    if mine < shipped:
        return CATALOG_PATH, f"shipped, newer than the refreshed copy {user} of {mine}"
    return user, "refreshed copy"


def load_catalog(region: str, path: Path | None = None) -> dict[str, Any]:
    """The region's prices (`{"version", "region", "prices"}`) from the catalog at path; by default the
    catalog_in_use(). A region the catalog lacks is a ConfigError: another region's prices never stand in for it."""
    if path is None:
        path = catalog_in_use()[0]
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the price catalog {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the price catalog {path} is not a JSON object")
    # Every price is checked as it is loaded (finite, >= 0): a bad one would make every cost bound pass.
    return regional(data, region, f"the price catalog {path}")


def usage_path(root: Path) -> Path:
    """cost-usage.toml at the repository root when the user keeps one, else the built-in assumptions."""
    own = root / "cost-usage.toml"
    return own if own.exists() else DEFAULT_USAGE_PATH


def load_usage(path: Path) -> dict[str, Any]:
    """The usage assumptions, every key known and every value a finite number >= 0 (ConfigError naming the key)."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"usage assumptions file not found: {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    validate_usage(data, path.name)
    return data


def validate_usage(data: dict[str, Any], name: str) -> None:
    for section, table in data.items():
        if section not in USAGE_KEYS:
            raise ConfigError(f"{name}: unknown key '{section}' (known: {', '.join(USAGE_KEYS)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: '{section}' must be a table")
        for key, value in table.items():
            if key == USAGE_OVERRIDES.get(section):
                if not isinstance(value, dict):
                    raise ConfigError(f"{name}: '{section}.{key}' must be a table of tables")
                for table_name, own in value.items():
                    if not isinstance(own, dict):
                        raise ConfigError(f"{name}: '{section}.{key}.{table_name}' must be a table")
                    for k, v in own.items():
                        _check_amount(name, f"{section}.{key}.{table_name}", k, v, USAGE_KEYS[section])
                continue
            _check_amount(name, section, key, value, USAGE_KEYS[section])


def _check_amount(name: str, prefix: str, key: str, value: Any, known: tuple[str, ...]) -> None:
    if key not in known:
        raise ConfigError(f"{name}: unknown key '{prefix}.{key}' (known: {', '.join(known)})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name}: '{prefix}.{key}' must be a finite number >= 0, got {value!r}")


def load_plan(path: Path) -> dict[str, Any]:
    """A plan in JSON (`terraform show -json PLANFILE`), or a UsageError in one line saying why it is not one."""

    def refuse(why: str) -> UsageError:
        return UsageError(f"{path}: not a Terraform plan in JSON ({why}); make one with `terraform show -json PLANFILE`")

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise refuse("the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")
        raise refuse(f"a JSON {kind}, not an object")
    if "format_version" not in data:
        raise refuse("no format_version")
    changes = data.get("resource_changes")
    if changes is None and "planned_values" not in data:
        raise refuse("no resource_changes or planned_values: a state, not a plan?")
    if changes is not None and not (isinstance(changes, list) and all(
            isinstance(rc, dict) and isinstance(rc.get("change"), dict) and "type" in rc and "address" in rc for rc in changes)):
        raise refuse("resource_changes is not a list of resource changes")
    return data


def no_charge(kind: str) -> bool:
    return kind in NO_CHARGE or kind.split("_", 1)[0] in NO_CHARGE_PROVIDERS


_INDEX = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|\d+)\]')


def _config_address(address: str) -> str:
    """module.db["a"].aws_rds_cluster.this[0] -> module.db.aws_rds_cluster.this"""
    return _INDEX.sub("", address)


def _cluster_references(plan: dict[str, Any]) -> dict[str, str]:
    """Instance config address -> the aws_rds_cluster config address its cluster_identifier refers to."""
    found: dict[str, str] = {}

    def walk(module: dict[str, Any], prefix: str) -> None:
        for resource in module.get("resources", []) or []:
            expr = (resource.get("expressions") or {}).get("cluster_identifier") or {}
            for ref in expr.get("references", []) if isinstance(expr, dict) else []:
                match = re.match(r"(aws_rds_cluster\.[A-Za-z0-9_-]+)", ref)
                if match:
                    found[prefix + resource.get("address", "")] = prefix + match.group(1)
                    break
        for name, call in (module.get("module_calls") or {}).items():
            walk(call.get("module") or {}, f"{prefix}module.{name}.")

    walk((plan.get("configuration") or {}).get("root_module") or {}, "")
    return found


_NOT_RESOURCES = frozenset({"var", "local", "module", "data", "each", "count", "path", "terraform", "self"})


def _module_config(configuration: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    module = configuration.get("root_module") or {}
    for name in path:
        module = ((module.get("module_calls") or {}).get(name) or {}).get("module") or {}
    return module


def _follow(configuration: dict[str, Any], path: tuple[str, ...], refs: list[str], depth: int = 0) -> str | None:
    """Config address of the managed resource that references lead to in module PATH: a variable
    is followed up to the expression its caller passes, a module output down to its expression."""
    if depth > 20:
        return None
    for ref in refs:
        parts = ref.split(".")
        found: str | None = None
        if parts[0] == "var" and len(parts) > 1 and path:
            call = (_module_config(configuration, path[:-1]).get("module_calls") or {}).get(path[-1]) or {}
            expr = (call.get("expressions") or {}).get(parts[1]) or {}
            found = _follow(configuration, path[:-1], expr.get("references", []) if isinstance(expr, dict) else [], depth + 1)
        elif parts[0] == "module" and len(parts) > 2:
            child = (*path, parts[1].split("[")[0])
            output = (_module_config(configuration, child).get("outputs") or {}).get(parts[2]) or {}
            found = _follow(configuration, child, (output.get("expression") or {}).get("references", []), depth + 1)
        elif parts[0] not in _NOT_RESOURCES and len(parts) > 1:
            found = "".join(f"module.{m}." for m in path) + f"{parts[0]}.{parts[1].split('[')[0]}"
        if found:
            return found
    return None


def _block_reference(configuration: dict[str, Any], address: str, block: str, attribute: str) -> str | None:
    """Like referenced_resource, for ATTRIBUTE inside the first BLOCK of the resource at ADDRESS."""
    parts = _config_address(address).split(".")
    path = tuple(parts[i + 1] for i in range(0, len(parts) - 2, 2) if parts[i] == "module")
    local = ".".join(parts[2 * len(path):])
    resource = next((r for r in _module_config(configuration, path).get("resources", []) or []
                     if r.get("address") == local), {})
    blocks = (resource.get("expressions") or {}).get(block) or [{}]
    expr = (blocks[0] if isinstance(blocks, list) and blocks else {}).get(attribute) or {}
    return _follow(configuration, path, expr.get("references", []) if isinstance(expr, dict) else [])


def runs_per_month(expression: str) -> float:
    """Runs of an EventBridge schedule expression in a 730-hour month; NotPriced for one it cannot count
    (fields other than numbers, lists of numbers, *, ? and day names; a month or year restriction)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate and int(rate[1]) > 0:
        return HOURS_PER_MONTH * 60 / (int(rate[1]) * {"minute": 1, "hour": 60, "day": 1440}[rate[2]])
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression)
    if not cron:
        raise NotPriced(f"schedule {expression!r}: not a cron or rate expression whose runs can be counted")
    minute, hour, day_of_month, month, day_of_week, year = cron.groups()

    def count(field: str, every: int) -> int:
        if field == "*":
            return every
        values = field.split(",")
        if not all(v.isdigit() for v in values):
            raise NotPriced(f"schedule {expression!r}: '{field}' is not counted (only numbers, lists of numbers and *)")
        return len(set(values))

    per_day = count(minute, 60) * count(hour, 24)
    if month != "*" or year != "*":
        raise NotPriced(f"schedule {expression!r}: runs restricted to some months or years are not counted")
    if day_of_month in ("*", "?") and day_of_week in ("*", "?"):
        days = HOURS_PER_MONTH / 24
    elif day_of_month == "?" and all(d in WEEKDAYS for d in day_of_week.split(",")):
        days = len(set(day_of_week.split(","))) * HOURS_PER_MONTH / (24 * 7)
    else:
        raise NotPriced(f"schedule {expression!r}: days '{day_of_month} {day_of_week}' are not counted")
    return per_day * days


def referenced_resource(configuration: dict[str, Any], address: str, attribute: str) -> str | None:
    """Config address of the resource that ATTRIBUTE of the resource at ADDRESS refers to, when the
    plan does not know its value yet (e.g. a cluster id passed through module outputs and variables)."""
    parts = _config_address(address).split(".")
    path = tuple(parts[i + 1] for i in range(0, len(parts) - 2, 2) if parts[i] == "module")
    local = ".".join(parts[2 * len(path):])
    resource = next((r for r in _module_config(configuration, path).get("resources", []) or []
                     if r.get("address") == local), {})
    expr = (resource.get("expressions") or {}).get(attribute) or {}
    return _follow(configuration, path, expr.get("references", []) if isinstance(expr, dict) else [])


def in_lake(after: dict[str, Any]) -> bool:
    """Whether a resource carries the analytics lake's tag (in its own tags or the provider's default tags)."""
    key, value = LAKE_TAG
    return any((after.get(field) or {}).get(key) == value for field in ("tags", "tags_all"))


def _unknown(rc: dict[str, Any], key: str) -> bool:
    return bool((rc["change"].get("after_unknown") or {}).get(key))


class Pricer:
    def __init__(self, catalog: dict[str, Any], usage: dict[str, Any], changes: list[dict[str, Any]] | tuple = (),
                 references: dict[str, str] | None = None, configuration: dict[str, Any] | None = None,
                 schedule: Window | None = None) -> None:
        self.prices = catalog["prices"]
        # Aurora instances run only in the env's weekly window: the hours it opens in an average month.
        self.schedule = schedule
        self.instance_hours = schedule.hours_per_month() if schedule else float(HOURS_PER_MONTH)
        self.hours_note = (f" (schedule {schedule.describe()}: {len(schedule.days)} x {schedule.hours} h x 52/12 a month)"
                           if schedule else "")
        self.usage = usage
        self.clusters = [rc for rc in changes if rc.get("type") == "aws_rds_cluster"]
        self.instances = [rc for rc in changes if rc.get("type") == "aws_rds_cluster_instance"]
        self.proxy_targets = [rc for rc in changes if rc.get("type") == "aws_db_proxy_target"]
        self.rules = [rc for rc in changes if rc.get("type") == "aws_cloudwatch_event_rule"]
        self.task_definitions = [rc for rc in changes if rc.get("type") == "aws_ecs_task_definition"]
        # Modules holding the lake's bucket: a Glue database there is the lake's catalog.
        self.lake_modules = {rc.get("module_address", "") for rc in changes
                             if rc.get("type") == "aws_s3_bucket" and in_lake(rc["change"].get("after") or {})}
        self.references = references or {}
        self.configuration = configuration or {}

    def _entry(self, key: str) -> dict[str, Any]:
        try:
            return self.prices[key]
        except KeyError:
            # One resource the catalog cannot price (an instance class it lacks) is listed unpriced; the rest is priced.
            raise NotPriced(f"the price catalog has no price '{key}' (run `dbops cost prices --refresh` or add it)") from None

    def price(self, key: str) -> float:
        return float(self._entry(key)["usd"])

    def factor(self, key: str) -> float:
        return float(self._entry(key)["factor"])

    def use(self, section: str, key: str, table: str | None = None) -> float:
        base = self.usage.get(section, {})
        if table is not None:
            specific = base.get(USAGE_OVERRIDES.get(section, "tables"), {}).get(table, {})
            if key in specific:
                return float(specific[key])
        if key not in base:
            raise ConfigError(f"usage assumptions lack '{section}.{key}'")
        return float(base[key])

    def cluster_of(self, instance: dict[str, Any]) -> dict[str, Any] | None:
        after = instance["change"].get("after") or {}
        cid = after.get("cluster_identifier")
        if cid:
            named = [c for c in self.clusters if (c["change"].get("after") or {}).get("cluster_identifier") == cid]
            if len(named) == 1:
                return named[0]
        module = instance.get("module_address", "")
        referenced = self.references.get(_config_address(instance["address"]))
        if referenced:
            same = [c for c in self.clusters if _config_address(c["address"]) == referenced and c.get("module_address", "") == module]
            if len(same) == 1:
                return same[0]
        if not cid:
            in_module = [c for c in self.clusters if c.get("module_address", "") == module]
            if len(in_module) == 1:
                return in_module[0]
        return None

    def line(self, rc: dict[str, Any]) -> Line | None:
        after = rc["change"].get("after") or {}
        kind, address = rc["type"], rc["address"]
        if kind == "aws_rds_cluster_instance":
            return self._instance(rc, after)
        if kind == "aws_rds_cluster":
            engine = after.get("engine") or ""
            if engine and not engine.startswith("aurora"):
                raise NotPriced(f"engine {engine}: only Aurora clusters are priced")
            gb, bk = self.use("aurora", "storage_gb"), self.use("aurora", "backup_gb")
            if after.get("storage_type") == IO_OPTIMIZED:
                usd = gb * self.price("rds.aurora.storage.iopt1") + bk * self.price("rds.aurora.backup_storage")
                return Line(address, kind, usd, f"I/O-Optimized: {gb:g} GB storage, I/O included, {bk:g} GB backup")
            io = self.use("aurora", "io_million_per_month")
            usd = gb * self.price("rds.aurora.storage") + io * self.price("rds.aurora.io") + bk * self.price("rds.aurora.backup_storage")
            return Line(address, kind, usd, f"{gb:g} GB storage, {io:g} M I/O, {bk:g} GB backup")
        if kind == "aws_dynamodb_table":
            return self._table(rc, after)
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
        if kind == "aws_db_proxy":
            return self._proxy(rc, after)
        if kind == "aws_cloudwatch_log_group":
            return self._log_group(rc, after)
        if kind == "aws_cloudwatch_event_target":
            return self._event_target(rc, after)
        if kind == "aws_s3_bucket":
            return self._lake_bucket(rc, after)
        if kind == "aws_athena_workgroup":
            return self._lake_workgroup(rc, after)
        if kind == "aws_glue_catalog_database":
            return self._lake_catalog(rc)
        return None

    def lake_requests(self) -> tuple[float, float]:
        """PUT and GET requests a month on the lake's bucket: the runs' and the queries'."""
        runs = self.use("lake", "runs_per_day") * DAYS_PER_MONTH
        queries = self.use("lake", "queries_per_day") * DAYS_PER_MONTH
        puts = runs * self.use("lake", "put_requests_per_run")
        gets = runs * self.use("lake", "get_requests_per_run") + queries * self.use("lake", "get_requests_per_query")
        return puts, gets

    def athena_billed(self, cutoff_bytes: float | None) -> tuple[float, float]:
        """Queries a month and the MB each is billed: the assumed scan, at least the catalog's minimum,
        at most the workgroup's cutoff (Athena cancels a query there; none: no bound)."""
        minimum = float(self._entry("athena.scanned").get("minimum_mb_per_query", 0))
        billed = max(self.use("lake", "scanned_mb_per_query"), minimum)
        if cutoff_bytes:
            billed = min(billed, float(cutoff_bytes) / BYTES_PER_MB)
        return self.use("lake", "queries_per_day") * DAYS_PER_MONTH, billed

    def _lake_bucket(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        if not in_lake(after):
            raise NotPriced("aws_s3_bucket outside the analytics lake (no dbops:component = analytics-lake tag): "
                            "there are no usage assumptions for it")
        gb = self.use("lake", "storage_gb")
        runs = self.use("lake", "runs_per_day") * DAYS_PER_MONTH
        queries = self.use("lake", "queries_per_day") * DAYS_PER_MONTH
        puts, gets = self.lake_requests()
        storage = gb * self.price("s3.standard.storage")
        requests = puts / 1000 * self.price("s3.requests.put") + gets / 1000 * self.price("s3.requests.get")
        return Line(rc["address"], rc["type"], storage + requests,
                    f"lake: {gb:g} GB S3 Standard ({storage:.2f} USD); {puts:,.0f} PUT and {gets:,.0f} GET requests a month "
                    f"({runs:.3g} runs, {queries:,.0f} queries; {requests:.2f} USD)")

    def _lake_workgroup(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        if not in_lake(after):
            raise NotPriced("aws_athena_workgroup outside the analytics lake (no dbops:component = analytics-lake tag): "
                            "there are no usage assumptions for it")
        per_tb = self.price("athena.scanned")
        per_day, assumed = self.use("lake", "queries_per_day"), self.use("lake", "scanned_mb_per_query")
        cutoff_bytes = ((after.get("configuration") or [{}])[0] or {}).get("bytes_scanned_cutoff_per_query")
        queries, billed = self.athena_billed(cutoff_bytes)
        if cutoff_bytes:
            cutoff = float(cutoff_bytes) / BYTES_PER_MB
            bound = f"; cutoff {cutoff:g} MB a query: at most {queries * cutoff / MB_PER_TB * per_tb:.2f} USD if every query reached it"
        else:
            bound = "; no bytes_scanned_cutoff_per_query: nothing bounds what one query costs"
        held = "" if billed == assumed else f" (assumed {assumed:g} MB, billed {billed:g})"
        tb = queries * billed / MB_PER_TB
        return Line(rc["address"], rc["type"], tb * per_tb,
                    f"lake: {per_day:g} queries a day x {billed:g} MB scanned{held} = {tb:.3f} TB a month at {per_tb:g} USD/TB{bound}")

    def _lake_catalog(self, rc: dict[str, Any]) -> Line:
        if rc.get("module_address", "") not in self.lake_modules:
            raise NotPriced("aws_glue_catalog_database outside the analytics lake's module: there are no usage assumptions for it")
        objects_entry, requests_entry = self._entry("glue.catalog.objects"), self._entry("glue.catalog.requests")
        objects, requests = self.use("lake", "catalog_objects"), self.use("lake", "catalog_requests_million_per_month")
        free_objects = float(objects_entry.get("free_per_month", 0))
        free_requests = float(requests_entry.get("free_million_per_month", 0))
        usd = (max(0.0, objects - free_objects) / 100_000 * float(objects_entry["usd"])
               + max(0.0, requests - free_requests) * float(requests_entry["usd"]))
        tier = "within" if objects <= free_objects and requests <= free_requests else "above"
        return Line(rc["address"], rc["type"], usd,
                    f"lake: {objects:,.0f} catalog objects, {requests:g} M requests a month: {tier} the free tier "
                    f"({free_objects:,.0f} objects, {free_requests:g} M requests; the account's, shared by its databases)")

    def _log_group(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        days = after.get("retention_in_days")
        if not days:
            raise NotPriced("kept forever (no retention_in_days): its storage grows without bound")
        gb = self.use("logs", "ingest_gb_per_month", after.get("name"))
        stored = gb * float(days) / (HOURS_PER_MONTH / 24)  # a month's ingestion for each month kept
        usd = gb * self.price("cloudwatch.logs.ingest") + stored * self.price("cloudwatch.logs.storage")
        return Line(rc["address"], rc["type"], usd, f"{gb:g} GB ingested a month, kept {days} days: {stored:.2f} GB stored")

    def _event_target(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        ecs = (after.get("ecs_target") or [None])[0]
        if not ecs:
            arn = after.get("arn") or ""
            referenced = referenced_resource(self.configuration, rc["address"], "arn") or ""
            if ":sns:" in arn or _config_address(referenced).split(".")[-2:-1] == ["aws_sns_topic"]:
                return Line(rc["address"], rc["type"], 0.0, "EventBridge delivers AWS service events free; a few notices a month "
                                                            "are within SNS's free tier")
            raise NotPriced("neither an ECS task nor an SNS topic: what the target does is not estimated")
        if ecs.get("launch_type") != "FARGATE":
            raise NotPriced(f"launch type {ecs.get('launch_type')}: only Fargate tasks are priced")
        rule = next((r for r in self.rules if (r["change"].get("after") or {}).get("name") == after.get("rule")), None)
        if rule is None:
            raise NotPriced(f"its rule {after.get('rule')} is not in the plan")
        expression = (rule["change"].get("after") or {}).get("schedule_expression")
        if not expression:
            raise NotPriced(f"rule {after.get('rule')} runs on events, not a schedule: its runs cannot be counted")
        runs = runs_per_month(expression) * float(ecs.get("task_count") or 1)
        task = self._task_definition_of(rc, ecs)
        vcpu, gb = float(task["cpu"]) / 1024, float(task["memory"]) / 1024
        minutes = self.use("fargate", "run_minutes", after.get("target_id"))
        hours = runs * minutes / 60
        usd = hours * (vcpu * self.price("ecs.fargate.vcpu") + gb * self.price("ecs.fargate.memory"))
        return Line(rc["address"], rc["type"], usd,
                    f"{runs:.3g} runs a month ({expression}) x {minutes:g} min of {vcpu:g} vCPU, {gb:g} GB on Fargate")

    def _task_definition_of(self, target: dict[str, Any], ecs: dict[str, Any]) -> dict[str, Any]:
        """The planned size (cpu, memory) of the task definition an ECS target runs."""
        arn = ecs.get("task_definition_arn")
        if arn:
            named = [t for t in self.task_definitions if (t["change"].get("after") or {}).get("arn") == arn]
            if len(named) != 1:
                raise NotPriced(f"its task definition {arn} is not in the plan")
            candidates = named
        else:
            referenced = _block_reference(self.configuration, target["address"], "ecs_target", "task_definition_arn")
            candidates = [t for t in self.task_definitions if referenced and _config_address(t["address"]) == referenced
                          and t.get("module_address", "") == target.get("module_address", "")]
        sizes = {((t["change"].get("after") or {}).get("cpu"), (t["change"].get("after") or {}).get("memory")) for t in candidates}
        if not candidates:
            raise NotPriced("its task definition is not in the plan (or not found from its references)")
        if len(sizes) != 1 or None in next(iter(sizes)):
            raise NotPriced("its task definition's cpu and memory are not known until apply")
        cpu, memory = next(iter(sizes))
        return {"cpu": cpu, "memory": memory}

    def targets_of(self, proxy: dict[str, Any]) -> list[dict[str, Any]]:
        """The proxy's aws_db_proxy_target resources: by proxy name, else the targets of its module."""
        name = (proxy["change"].get("after") or {}).get("name")
        if name:
            named = [t for t in self.proxy_targets if (t["change"].get("after") or {}).get("db_proxy_name") == name]
            if named:
                return named
        module = proxy.get("module_address", "")
        return [t for t in self.proxy_targets if t.get("module_address", "") == module
                and not (t["change"].get("after") or {}).get("db_proxy_name")]

    def cluster_of_target(self, target: dict[str, Any]) -> dict[str, Any] | None:
        cid = (target["change"].get("after") or {}).get("db_cluster_identifier")
        if cid:
            named = [c for c in self.clusters if (c["change"].get("after") or {}).get("cluster_identifier") == cid]
            return named[0] if len(named) == 1 else None
        referenced = referenced_resource(self.configuration, target["address"], "db_cluster_identifier")
        same = [c for c in self.clusters if referenced and _config_address(c["address"]) == referenced]
        return same[0] if len(same) == 1 else None

    def _proxy(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        targets = self.targets_of(rc)
        if not targets:
            raise NotPriced("no aws_db_proxy_target of this proxy in the plan: the instances it is billed on are unknown")
        instances: list[dict[str, Any]] = []
        for target in targets:
            if (target["change"].get("after") or {}).get("db_instance_identifier"):
                raise NotPriced(f"{target['address']} targets a DB instance: only Aurora cluster targets are priced")
            cluster = self.cluster_of_target(target)
            if cluster is None:
                raise NotPriced(f"the cluster of {target['address']} is not in the plan (or not found from its references)")
            instances += [i for i in self.instances if self.cluster_of(i) is cluster]
        classes = [(i["change"].get("after") or {}).get("instance_class") for i in instances]
        if not classes:
            raise NotPriced("the proxy's cluster has no instances in the plan")
        if SERVERLESS_CLASS in classes:
            raise NotPriced("db.serverless in the proxy's cluster: RDS Proxy is billed per ACU-hour there, which the catalog does not price")
        missing = sorted({str(c) for c in classes if c not in INSTANCE_VCPUS})
        if missing:
            raise NotPriced(f"no vCPU count for {', '.join(missing)} (INSTANCE_VCPUS)")
        entry = self._entry("rds.proxy.vcpu")
        vcpus = sum(INSTANCE_VCPUS[str(c)] for c in classes)
        billed = max(vcpus, int(entry["minimum_vcpus"]))
        usd = billed * float(entry["usd"]) * HOURS_PER_MONTH
        each = ", ".join(f"{classes.count(c)} x {c}" for c in sorted(set(map(str, classes))))
        floor = f", billed as the minimum {billed}" if billed > vcpus else ""
        return Line(rc["address"], rc["type"], usd,
                    f"{vcpus} vCPUs of the cluster's instances ({each}){floor} x {HOURS_PER_MONTH} h")

    def _instance(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        kind, address = rc["type"], rc["address"]
        cls = after.get("instance_class")
        if not cls:
            raise NotPriced("instance_class is not known until apply" if _unknown(rc, "instance_class") else "no instance_class")
        engine = after.get("engine") or "aurora-postgresql"
        if engine != "aurora-postgresql":
            raise NotPriced(f"engine {engine}: the catalog prices Aurora PostgreSQL instances only")
        cluster = self.cluster_of(rc)
        cluster_after = (cluster["change"].get("after") or {}) if cluster else {}
        iopt = cluster_after.get("storage_type") == IO_OPTIMIZED
        factor = self.factor("rds.aurora.iopt1.instance_factor") if iopt else 1.0
        io_note = f" x {factor:g} (I/O-Optimized cluster)" if iopt else ""
        if cls == SERVERLESS_CLASS:
            if cluster is None:
                raise NotPriced("db.serverless: its cluster is not in the plan, so its ACU range is unknown")
            scaling = (cluster_after.get("serverlessv2_scaling_configuration") or [None])[0] or {}
            low, high = scaling.get("min_capacity"), scaling.get("max_capacity")
            if low is None or high is None:
                raise NotPriced(f"db.serverless: cluster {cluster['address']} has no serverlessv2_scaling_configuration "
                                "min_capacity/max_capacity known at plan time")
            assumed = self.use("aurora", "serverless_acu_average")
            acu = min(max(assumed, float(low)), float(high))
            acu_hours = acu * self.instance_hours
            usd = acu_hours * self.price("rds.aurora-postgresql.serverless-v2.acu") * factor
            held = "" if acu == assumed else f", assumed {assumed:g} held to the range"
            return Line(address, kind, usd, f"db.serverless: {acu:g} ACU average (cluster range {float(low):g}..{float(high):g}{held}) "
                                            f"x {self.instance_hours:g} h{self.hours_note} = {acu_hours:g} ACU-hours{io_note}")
        usd = self.price(f"rds.aurora-postgresql.{cls}") * self.instance_hours * factor
        alone = "; its cluster is not in the plan: Aurora Standard assumed" if cluster is None else ""
        return Line(address, kind, usd, f"{cls} x {self.instance_hours:g} h{self.hours_note}{io_note}{alone}")

    def _table(self, rc: dict[str, Any], after: dict[str, Any]) -> Line:
        kind, address = rc["type"], rc["address"]
        name = after.get("name")
        gb = self.use("dynamodb", "storage_gb", name)
        usd = gb * self.price("dynamodb.storage")
        basis = [f"{gb:g} GB"]
        indexes = after.get("global_secondary_index") or []
        if after.get("billing_mode", "PROVISIONED") == "PAY_PER_REQUEST":
            w, r = self.use("dynamodb", "write_million_per_month", name), self.use("dynamodb", "read_million_per_month", name)
            usd += w * self.price("dynamodb.ondemand.write") + r * self.price("dynamodb.ondemand.read")
            basis.append(f"{w:g} M writes, {r:g} M reads")
            if indexes:
                basis.append(f"{len(indexes)} GSI(s): their request units are taken to be in these assumptions")
        else:
            wcu, rcu = float(after.get("write_capacity") or 0), float(after.get("read_capacity") or 0)
            basis.append(f"{wcu:g} WCU, {rcu:g} RCU")
            for index in indexes:
                iw, ir = float(index.get("write_capacity") or 0), float(index.get("read_capacity") or 0)
                wcu, rcu = wcu + iw, rcu + ir
                basis.append(f"GSI {index.get('name', '?')}: {iw:g} WCU, {ir:g} RCU")
            usd += (wcu * self.price("dynamodb.provisioned.wcu") + rcu * self.price("dynamodb.provisioned.rcu")) * HOURS_PER_MONTH
        pitr = after.get("point_in_time_recovery") or []
        if pitr and pitr[0].get("enabled"):
            usd += gb * self.price("dynamodb.pitr")
            basis.append("PITR")
        return Line(address, kind, usd, ", ".join(basis))


def estimate(plan: dict[str, Any], catalog: dict[str, Any], usage: dict[str, Any], schedule: Window | None = None) -> Estimate:
    """Every resource the plan keeps or creates (deletions cost nothing), priced or listed as unpriced; with a
    schedule, Aurora instances for the hours its window runs them (storage and everything else always)."""
    kept = [rc for rc in plan.get("resource_changes") or []
            if rc.get("mode") == "managed" and rc["change"].get("actions") != ["delete"]]
    pricer = Pricer(catalog, usage, kept, _cluster_references(plan), plan.get("configuration"), schedule)
    lines: list[Line] = []
    unpriced: list[Unpriced] = []
    for rc in kept:
        if no_charge(rc["type"]):
            continue
        try:
            line = pricer.line(rc)
        except NotPriced as exc:
            unpriced.append(Unpriced(rc["address"], rc["type"], str(exc)))
            continue
        if line is None:
            unpriced.append(Unpriced(rc["address"], rc["type"], f"no price rule for {rc['type']}"))
        else:
            lines.append(line)
    dates = [str(p.get("date", "")) for p in catalog["prices"].values()]
    return Estimate(tuple(sorted(lines, key=lambda l: -l.usd)), catalog_version(catalog), tuple(unpriced), min(dates, default=""))
