"""Configuration: dbops.toml, then the environment, then flags.

A malformed file is a ConfigError naming the file read (which $DBOPS_CONFIG or --config may point
anywhere) and the key, so nothing runs on a guess. Paths in the file, the report dir and the lab
dir are relative to the directory of the file read.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ops.errors import ConfigError, UsageError
from ops.window import DAYS, Window, valid_start
from ops.window import parse as parse_window

CONFIG_NAME = "dbops.toml"
EMBEDDED = "embedded"
DEFAULT_LEASE_TABLE = "dbops-tfstate-lock"
DEFAULT_RESTORE_INSTANCE_CLASSES = ("db.t4g.medium", "db.t3.medium", "db.r6g.large")


@dataclass(frozen=True)
class Policy:
    """Objectives verdicts are judged against."""

    rto_seconds: float = 60.0
    rpo_seconds: float = 300.0
    max_lost_writes: int = 0
    max_replica_lag_s: float = 5.0
    backup_retention_days: int = 7
    snapshot_max_age_hours: float = 26.0
    monthly_budget_usd: float = 80.0
    storage_budget_usd: float = 20.0
    connection_setup_p95_ms: float = 500.0
    pool_utilization_min: float = 0.8
    query_overhead_p95_ms: float = 50.0  # connections drill: query time beyond its own work, p95
    pool_wait_max_ms: float = 100.0  # connections drill: the longest a client waits in a pool for a server connection
    # Query performance (dbops query audit, dbops drill latency).
    query_p95_ms: float = 10.0  # p95 of indexed queries, as the client sees them
    query_aurora_p95_ms: float = 50.0  # p95 of Aurora queries in general
    index_utilization_min: float = 0.9  # idx_scan / (idx_scan + seq_scan) over large tables
    index_gain_min: float = 0.6  # an index is worth its cost when it cuts a slow query's time by this much
    min_statement_calls: int = 50  # fewer calls (or transactions) than this: not enough to judge
    stats_min_age_s: float = 3600.0  # statistics reset more recently than this: not enough to judge
    large_table_rows: int = 10000  # tables with more rows than this count for utilization and seq scans
    # DynamoDB throughput (dbops drill throughput).
    throughput_multiplier: float = 10.0  # load at this multiple of the table's recent peak consumed capacity
    throughput_p95_ms: float = 20.0  # p95 of the drill's writes and of its reads at the multiple
    throughput_rate_tolerance: float = 0.1  # the served rate may fall short of the target by this fraction
    max_drill_cost_usd: float = 1.0  # a drill estimated to cost more is refused before it writes anything
    # Resilience scorecard (dbops scorecard): the availability each target is held to, and what the year spends of it.
    availability_percent: float | None = None  # e.g. 99.99 (52.6 min a year); None: no availability objective declared
    failovers_per_year: int = 0  # failovers a year the budget expects, each costing the measured p95 client downtime
    restores_per_year: int = 0  # recoveries from backup a year the budget declares, each costing the measured restore time
    evidence_max_age_days: float = 35.0  # a drill older than this proves nothing about today's estate
    min_evidence_drills: int = 3  # fewer drills than this prove no objective met (one drill over it is a breach)
    # Stop conditions every drill checks before its fault and watches during it (`--stop-on-alarm` adds to the
    # alarms, `--abort-after-downtime` replaces the limit): CloudWatch alarms by name, in the env's account and
    # region, and the client write downtime so far (drills with a canary) above which the drill is stopped.
    stop_on_alarms: tuple[str, ...] = ()
    abort_after_downtime_s: float | None = None
    # DescribeAlarms every this many seconds (jittered) while a drill runs: the account's CloudWatch API rate is shared
    # with every other client of it, and an alarm evaluates once a period (60 s or more) anyway.
    stop_alarm_poll_s: float = 10.0


@dataclass(frozen=True)
class Waiver:
    """A finding the env accepts for a while, with its reason: a failing check becomes a warning that names it."""

    check: str  # a check id, e.g. BKP-DDB-DELETION-PROTECTION
    target: str | None  # KIND:NAME, or every target
    reason: str
    expires: date


@dataclass(frozen=True)
class Account:
    """Another AWS account an env reads (backup verify, status): its id and the role dbops assumes in it."""

    id: str
    role_arn: str


@dataclass(frozen=True)
class EnvConfig:
    name: str
    region: str = "us-east-1"
    endpoint: str | None = None  # None: AWS itself; "embedded": the lab emulator; else a URL
    terraform_dir: Path | None = None
    protected: bool = False
    profile: str | None = None
    # DynamoDB table holding drill leases and drill records (terraform/bootstrap makes it);
    # the embedded lab keeps them as files instead.
    lease_table: str = DEFAULT_LEASE_TABLE
    policy: tuple[tuple[str, float | int | tuple[str, ...]], ...] = ()  # [envs.NAME.policy]: objectives of this env only
    # PEM bundle of the CAs that sign the databases' certificates (AWS: the RDS CA bundle, global-bundle.pem):
    # set, Aurora connections verify the server and its host name (sslmode=verify-full); unset, only encrypt.
    tls_root_cert: Path | None = None
    # RDS Proxy presents certificates of Amazon's root CAs (Amazon Trust Services), not of the RDS CA bundle:
    # the bundle a --via endpoint is verified against (default: tls_root_cert).
    proxy_tls_root_cert: Path | None = None
    # The AWS account the env is: before anything writes, the credentials must act in it (STS).
    account_id: str | None = None
    waivers: tuple[Waiver, ...] = ()
    # `tf apply`/`tf destroy` refuse a saved plan older than this: what it was read against has moved on.
    plan_max_age_hours: float = 24.0
    # Fleet reads (backup verify, status): the regions read besides `region`, and the accounts besides the
    # credentials' own, each through a role assumed with STS. Drills and Terraform act on `region` alone.
    regions: tuple[str, ...] = ()
    accounts: tuple[Account, ...] = ()

    @property
    def all_regions(self) -> tuple[str, ...]:
        """The env's region first, then the others it lists."""
        return (self.region, *(r for r in self.regions if r != self.region))

    @property
    def is_fleet(self) -> bool:
        """An env that reads more than its one region of its one account."""
        return len(self.all_regions) > 1 or bool(self.accounts)
    # [envs.NAME.schedule]: the weekly window the env's Aurora clusters run in (None: always on).
    schedule: Window | None = None

    @property
    def is_embedded(self) -> bool:
        return self.endpoint == EMBEDDED


@dataclass(frozen=True)
class Config:
    root: Path
    path: Path | None
    default_env: str
    report_dir: Path
    lab_dir: Path
    envs: dict[str, EnvConfig] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    # [restore] instance_classes: a restored Aurora cluster's one instance is the first of these (smallest
    # first) its engine version offers.
    restore_instance_classes: tuple[str, ...] = DEFAULT_RESTORE_INSTANCE_CLASSES
    # [pipelines.NAME]: the analytics export's pipelines, as written; ops.etl.config reads them when `dbops etl` runs.
    pipelines: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The config file read, as errors name it ("dbops.toml" when none was found)."""
        return str(self.path) if self.path else CONFIG_NAME

    def env(self, name: str | None = None) -> EnvConfig:
        name = name or self.default_env
        try:
            return self.envs[name]
        except KeyError:
            known = ", ".join(sorted(self.envs)) or "none"
            raise UsageError(f"unknown env '{name}' (known: {known})") from None

    def with_policy(self, **overrides: Any) -> "Config":
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, policy=replace(self.policy, **given)) if given else self

    def for_env(self, name: str | None = None) -> "Config":
        """This config with the env's own objectives ([envs.NAME.policy]) over the global ones."""
        return self.with_policy(**dict(self.env(name).policy))


MAX_EVENTS_PER_YEAR = 525_960  # one a minute: more is a typo, not a plan
MAX_EVIDENCE_DRILLS = 1000  # more drills than a weekly schedule makes in the longest evidence window: a typo


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _string(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _boolean(v: Any) -> bool:
    return isinstance(v, bool)


_POLICY_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "rto_seconds": (_positive, "a positive finite number"),
    "rpo_seconds": (_positive, "a positive finite number"),
    "max_lost_writes": (_non_negative_int, "an integer >= 0"),
    "max_replica_lag_s": (_positive, "a positive finite number"),
    "backup_retention_days": (_positive, "a positive finite number"),
    "snapshot_max_age_hours": (_positive, "a positive finite number"),
    "monthly_budget_usd": (_positive, "a positive finite number"),
    "storage_budget_usd": (_positive, "a positive finite number"),
    "connection_setup_p95_ms": (_positive, "a positive finite number"),
    "pool_utilization_min": (lambda v: _positive(v) and v <= 1, "a fraction in (0, 1]"),
    "query_overhead_p95_ms": (_positive, "a positive finite number"),
    "pool_wait_max_ms": (_positive, "a positive finite number"),
    "query_p95_ms": (_positive, "a positive finite number"),
    "query_aurora_p95_ms": (_positive, "a positive finite number"),
    "index_utilization_min": (lambda v: _positive(v) and v <= 1, "a fraction in (0, 1]"),
    "index_gain_min": (lambda v: _positive(v) and v < 1, "a fraction in (0, 1)"),
    "min_statement_calls": (lambda v: _non_negative_int(v) and v >= 1, "an integer >= 1"),
    "stats_min_age_s": (lambda v: _positive(v) or _non_negative_int(v) or v == 0.0 and isinstance(v, float), "a finite number >= 0"),
    "large_table_rows": (_non_negative_int, "an integer >= 0"),
    "throughput_multiplier": (lambda v: _positive(v) and v >= 1, "a finite number >= 1"),
    "throughput_p95_ms": (_positive, "a positive finite number"),
    "throughput_rate_tolerance": (lambda v: _positive(v) and v < 1, "a fraction in (0, 1)"),
    "max_drill_cost_usd": (_positive, "a positive finite number"),
    "availability_percent": (lambda v: _positive(v) and v < 100, "a percentage in (0, 100), e.g. 99.99"),
    "failovers_per_year": (lambda v: _non_negative_int(v) and v <= MAX_EVENTS_PER_YEAR, f"an integer from 0 to {MAX_EVENTS_PER_YEAR}"),
    "restores_per_year": (lambda v: _non_negative_int(v) and v <= MAX_EVENTS_PER_YEAR, f"an integer from 0 to {MAX_EVENTS_PER_YEAR}"),
    "evidence_max_age_days": (lambda v: _positive(v) and v <= 3660, "a positive number of days, at most 3660"),
    "min_evidence_drills": (lambda v: _non_negative_int(v) and 1 <= v <= MAX_EVIDENCE_DRILLS, f"an integer from 1 to {MAX_EVIDENCE_DRILLS}"),
    "stop_on_alarms": (lambda v: isinstance(v, list) and len(v) <= 100 and len(set(v)) == len(v)
                       and all(isinstance(n, str) and 0 < len(n) <= 255 and n.strip() == n for n in v),
                       'a list of at most 100 distinct CloudWatch alarm names (["dbops-prod-errors"])'),
    "abort_after_downtime_s": (_positive, "a positive finite number of seconds"),
    "stop_alarm_poll_s": (lambda v: _positive(v) and 1 <= v <= 60, "a number of seconds from 1 to 60"),
}
_ENV_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "region": (lambda v: _known_region(v), "a region name AWS has (us-east-1)"),
    "endpoint": (_string, "'embedded' or an http(s) URL"),
    "terraform_dir": (_string, "a path"),
    "protected": (_boolean, "true or false"),
    "profile": (_string, "a profile name"),
    "lease_table": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", v)),
                    "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)"),
    "tls_root_cert": (_string, "a path to a PEM file of CA certificates"),
    "proxy_tls_root_cert": (_string, "a path to a PEM file of CA certificates"),
    "account_id": (lambda v: isinstance(v, str) and bool(_ACCOUNT.fullmatch(v)), "a 12-digit AWS account id in quotes"),
    "plan_max_age_hours": (_positive, "a positive finite number of hours"),
    "regions": (lambda v: isinstance(v, list) and bool(v) and all(_known_region(r) for r in v)
                and len(set(v)) == len(v), 'a non-empty list of distinct region names AWS has (["us-east-1", "eu-west-1"])'),
}
_ACCOUNT = re.compile(r"[0-9]{12}")  # ASCII: str.isdigit takes other scripts' digits


def _known_region(value: Any) -> bool:
    """A region of one of botocore's partitions: a typo (us-esat-1) would otherwise be read as a region nobody answers."""
    return isinstance(value, str) and value in _regions()


@functools.lru_cache(maxsize=1)
def _regions() -> frozenset[str]:
    """botocore's own endpoint data, read without a session (no profile or credentials are looked at)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    return frozenset(r for p in resolver.get_available_partitions() for r in resolver.get_available_endpoints("sts", p))


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}")
_ACCOUNT_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (lambda v: isinstance(v, str) and bool(_ACCOUNT.fullmatch(v)), "a 12-digit AWS account id in quotes"),
    "role_arn": (lambda v: isinstance(v, str) and bool(_ROLE_ARN.fullmatch(v)), "an IAM role ARN (arn:aws:iam::<12 digits>:role/NAME)"),
}
_RESTORE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "instance_classes": (lambda v: isinstance(v, list) and bool(v) and all(isinstance(c, str) and c.startswith("db.") and len(c) > 3
                                                                            for c in v),
                         'a non-empty list of DB instance classes, smallest first (["db.t4g.medium", "db.t3.medium"])'),
}
_SCHEDULE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "days": (lambda v: isinstance(v, list) and bool(v) and all(d in DAYS for d in v) and len(set(v)) == len(v),
             f"a non-empty list of distinct day names from {', '.join(DAYS)} (e.g. [\"SUN\"])"),
    "start": (valid_start, 'a UTC time as "HH:MM" (e.g. "01:00")'),
    "hours": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 24, "a whole number of hours from 1 to 24"),
    # A protected env's --confirm is given for drills; stopping its clusters outside the window is said here.
    "allow_stop": (_boolean, "true or false"),
}
_SCHEDULE_REQUIRED = ("days", "start", "hours")
_DEFAULTS_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "env": (_string, "an env name"),
    "report_dir": (_string, "a path"),
}


def _policy(table: Any, prefix: str, source: str) -> dict[str, float | int | tuple[str, ...]]:
    checked = _check_table(table, _POLICY_RULES, prefix, source)
    types = {f.name: f.type for f in fields(Policy)}
    return {k: (int(v) if types[k] == "int" else tuple(v) if isinstance(v, list) else float(v)) for k, v in checked.items()}


MAX_WAIVER_DAYS = 366
_WAIVER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "check": (lambda v: isinstance(v, str) and bool(v.strip()), "a check id such as BKP-DDB-DELETION-PROTECTION"),
    "target": (lambda v: isinstance(v, str) and ":" in v, "a target as KIND:NAME"),
    "reason": (lambda v: isinstance(v, str) and bool(v.strip()), "the reason, in words"),
    "expires": (lambda v: (isinstance(v, date) and not isinstance(v, datetime)) or (isinstance(v, str) and _iso_date(v) is not None),
                "a date (2027-06-30), not a time"),
}


def _schedule(table: Any, prefix: str, source: str, protected: bool) -> Window | None:
    if table is None:
        return None
    _check_table(table, _SCHEDULE_RULES, prefix, source)
    missing = [k for k in _SCHEDULE_REQUIRED if k not in table]
    if missing:
        raise ConfigError(f"{source}: '{prefix}.{missing[0]}' is required: a schedule names its days, start and hours")
    if protected and table.get("allow_stop") is not True:
        raise ConfigError(f"{source}: '{prefix}.allow_stop' must be true on a protected env: its schedule stops its "
                          "clusters outside the window, which the env's --confirm (given for drills) does not say")
    return parse_window(table["days"], table["start"], table["hours"])


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _waivers(items: Any, prefix: str, source: str) -> tuple[Waiver, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{source}: '{prefix}' must be a list of tables ([[{prefix}]])")
    out = []
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]"
        _check_table(item, _WAIVER_RULES, where, source)
        for key in ("check", "reason", "expires"):
            if key not in item:
                raise ConfigError(f"{source}: '{where}.{key}' is required: a waiver names its check, its reason and its expiry")
        expires = item["expires"] if isinstance(item["expires"], date) else _iso_date(item["expires"])
        if expires is not None and expires > date.today() + timedelta(days=MAX_WAIVER_DAYS):
            raise ConfigError(f"{source}: '{where}.expires' {expires} is more than {MAX_WAIVER_DAYS} days away: a waiver "
                              "is looked at again at least once a year")
        out.append(Waiver(item["check"].strip(), item.get("target"), item["reason"].strip(), expires))  # type: ignore[arg-type]
    return tuple(out)


def _accounts(items: Any, prefix: str, source: str, home: str | None) -> tuple[Account, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{source}: '{prefix}' must be a list of tables ([[{prefix}]])")
    out: list[Account] = []
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]"
        _check_table(item, _ACCOUNT_RULES, where, source)
        for key in ("id", "role_arn"):
            if key not in item:
                raise ConfigError(f"{source}: '{where}.{key}' is required: an account names its id and the role dbops assumes in it")
        in_arn = _ROLE_ARN.fullmatch(item["role_arn"]).group(1)  # type: ignore[union-attr]
        if in_arn != item["id"]:
            raise ConfigError(f"{source}: '{where}.role_arn' is a role of account {in_arn}, not of account {item['id']}")
        if item["id"] == home or item["id"] in (a.id for a in out):
            raise ConfigError(f"{source}: '{where}.id' {item['id']} is listed twice (the env's account_id is read without a role)")
        out.append(Account(item["id"], item["role_arn"]))
    return tuple(out)


def _check_table(table: Any, rules: dict, prefix: str, source: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: '{prefix}' must be a table")
    for key, value in table.items():
        if key not in rules:
            raise ConfigError(f"{source}: unknown key '{prefix}.{key}'")
        ok, expected = rules[key]
        if not ok(value):
            raise ConfigError(f"{source}: '{prefix}.{key}' must be {expected}, got {value!r}")
    return table


def find_config(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def parse(data: dict, root: Path, path: Path | None, environ: dict[str, str]) -> Config:
    source = str(path) if path else CONFIG_NAME
    for key in data:
        if key not in ("defaults", "policy", "envs", "restore", "pipelines"):
            raise ConfigError(f"{source}: unknown key '{key}'")
    defaults = _check_table(data.get("defaults", {}), _DEFAULTS_RULES, "defaults", source)
    policy = Policy(**_policy(data.get("policy", {}), "policy", source))
    restore = _check_table(data.get("restore", {}), _RESTORE_RULES, "restore", source)

    envs_table = data.get("envs", {})
    if not isinstance(envs_table, dict):
        raise ConfigError(f"{source}: 'envs' must be a table of envs")
    envs: dict[str, EnvConfig] = {}
    for name, table in envs_table.items():
        own_policy = _policy(table.pop("policy", {}), f"envs.{name}.policy", source) if isinstance(table, dict) else {}
        waivers = _waivers(table.pop("waivers", []), f"envs.{name}.waivers", source) if isinstance(table, dict) else ()
        accounts_table = table.pop("accounts", []) if isinstance(table, dict) else []
        schedule_table = table.pop("schedule", None) if isinstance(table, dict) else None
        table = _check_table(table, _ENV_RULES, f"envs.{name}", source)
        endpoint = table.get("endpoint")
        if endpoint is not None and endpoint != EMBEDDED and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"{source}: 'envs.{name}.endpoint' must be 'embedded' or an http(s) URL, got {endpoint!r}")
        tf_dir = table.get("terraform_dir")
        accounts = _accounts(accounts_table, f"envs.{name}.accounts", source, table.get("account_id"))
        if accounts and table.get("account_id") is None:
            raise ConfigError(f"{source}: 'envs.{name}.accounts' needs 'envs.{name}.account_id': the account whose "
                              "credentials assume the others' roles is named first")
        # Anything but the embedded lab can be a real account: protected unless it says otherwise.
        protected = table.get("protected", endpoint != EMBEDDED)
        schedule = _schedule(schedule_table, f"envs.{name}.schedule", source, protected)
        envs[name] = EnvConfig(
            name=name,
            region=table.get("region", "us-east-1"),
            endpoint=endpoint,
            terraform_dir=(root / tf_dir) if tf_dir else None,
            protected=protected,
            profile=table.get("profile"),
            lease_table=table.get("lease_table", DEFAULT_LEASE_TABLE),
            policy=tuple(sorted(own_policy.items())),
            tls_root_cert=(root / table["tls_root_cert"]) if table.get("tls_root_cert") else None,
            proxy_tls_root_cert=(root / table["proxy_tls_root_cert"]) if table.get("proxy_tls_root_cert") else None,
            account_id=table.get("account_id"),
            waivers=waivers,
            plan_max_age_hours=float(table.get("plan_max_age_hours", 24.0)),
            regions=tuple(table.get("regions", ())),
            accounts=accounts,
            schedule=schedule,
        )

    default_env = environ.get("DBOPS_ENV") or defaults.get("env") or ("lab" if "lab" in envs else "")
    report_dir = environ.get("DBOPS_REPORT_DIR") or defaults.get("report_dir", "reports")
    lab_dir = environ.get("DBOPS_LAB_DIR") or ".lab"  # beside the config file read, whichever it is
    return Config(
        root=root,
        path=path,
        default_env=default_env,
        report_dir=(root / report_dir).resolve(),
        lab_dir=(root / lab_dir).resolve(),
        envs=envs,
        policy=policy,
        restore_instance_classes=tuple(restore.get("instance_classes", DEFAULT_RESTORE_INSTANCE_CLASSES)),
        pipelines=_pipelines(data.get("pipelines", {}), source),
    )


def _pipelines(table: Any, source: str) -> dict[str, Any]:
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ConfigError(f"{source}: 'pipelines' must be a table of [pipelines.NAME] tables")
    return table


def load(path: Path | None = None, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Config:
    """Load the config: an explicit path, else $DBOPS_CONFIG, else dbops.toml found upwards from cwd."""
    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    if path is None and environ.get("DBOPS_CONFIG"):
        path = Path(environ["DBOPS_CONFIG"])
    if path is None:
        path = find_config(cwd)
    if path is None:
        return parse({}, cwd, None, environ)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path {path} is a directory, not a {CONFIG_NAME} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if not data:
        raise ConfigError(f"config file {path} is empty: it needs at least an [envs.NAME] table (see the repository's dbops.toml)")
    return parse(data, path.resolve().parent, path.resolve(), environ)
