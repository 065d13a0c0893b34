"""dbops permissions [COMMAND...] [--format json|terraform]: the IAM policy the named commands need.

The calls are declared where they are made (`declare(...)` in each module that calls AWS); this table
keys those declarations to the commands that reach them. A command reaches a declaration when any of
its targets or options can make the calls (a drill on either kind of target, `--publish-metrics`,
`--via` an RDS Proxy, a lease on AWS), so its policy lets every run of it succeed.
"""

from __future__ import annotations

import json
from typing import Iterable

import click

from ops.cli.context import app
from ops.cli.options import env_option
from ops.errors import UsageError
from ops.permissions import Calls, Need, declare, need, policy

# Commands that make no AWS call of their own here, and why.
NOT_DERIVED = {
    "tf": "Terraform's AWS provider makes its calls: it needs the permissions of the resources the env's modules manage",
    "lab": "the embedded lab runs on this machine only, never on AWS",
}


def command_calls() -> dict[str, tuple[Calls, ...]]:
    """Each command, as typed, and the declarations its runs can reach."""
    from ops import assume_role, aws, janitor, lease, metrics, scheduling
    from ops.checks import collect
    from ops.cost import check as cost_check
    from ops.cost import prices
    from ops.data import ddb_load, ddb_markers
    from ops.drills import guard
    from ops.etl import athena, catalog, lake, prune
    from ops.etl import leftovers as etl_leftovers
    from ops.etl import run as etl_run
    from ops.targets import aurora, dynamodb, recovery_point

    drill = (aws.ACCOUNT, lease.CALLS, metrics.CALLS)  # every drill: the account, its lease, --publish-metrics
    guarded = (*drill, guard.CALLS)  # `dbops drill ...`: --stop-on-alarm and policy stop_on_alarms read alarms
    reads = (aws.ACCOUNT, aurora.READS, dynamodb.READS, collect.CALLS, assume_role.CALLS)  # the on-call views of each target
    return {
        "status": reads,
        "runbook show": reads,
        "runbook list": (),
        "estate show": (),
        "report list": (),
        "report show": (),
        "cost estimate": (),
        "cost prices": (prices.CALLS,),
        "cost check": (aws.ACCOUNT, cost_check.CALLS, metrics.CALLS),
        "failover": (*drill, aurora.READS, aurora.FAILOVER),  # the call for a writer that is down: no stop conditions
        "drill failover": (*guarded, aurora.READS, aurora.PROXY, aurora.FAILOVER, aurora.START),
        "drill restore": (*guarded, aurora.READS, aurora.START, aurora.RESTORE, dynamodb.READS, dynamodb.RESTORE, ddb_markers.CALLS),
        "drill connections": (*guarded, aurora.READS, aurora.PROXY, aurora.START),
        "drill latency": (*guarded, aurora.READS, aurora.PROXY, aurora.START),
        "drill throughput": (*guarded, ddb_load.CALLS),
        "query audit": (aws.ACCOUNT, metrics.CALLS, aurora.READS, aurora.START),  # read-only: no lease
        # --restore-latest runs both restore drills (point in time, and AWS Backup's recovery point) per target,
        # under the policy's stop conditions.
        "backup verify": (*guarded, collect.CALLS, assume_role.CALLS, recovery_point.READS, recovery_point.RESTORE, aurora.READS, aurora.RESTORE,
                          dynamodb.READS, dynamodb.RESTORE, ddb_markers.CALLS),
        "janitor": (aws.ACCOUNT, lease.CALLS, janitor.CALLS, aurora.READS, etl_leftovers.CALLS),
        "schedule apply": (aws.ACCOUNT, lease.CALLS, scheduling.CALLS),  # a stop holds the cluster's drill lease
        # A clone at T (--at, or extract = "clone") is a restore, recorded and leased like a drill's.
        "etl run": (aws.ACCOUNT, metrics.CALLS, lease.CALLS, aurora.READS, aurora.RESTORE, etl_run.EXPORT, lake.READS, lake.PUBLISH,
                    prune.CALLS),
        "etl check": (lake.READS, catalog.READS),
        "etl status": (),
        "etl query": (lake.READS, athena.QUERIES),
    }


def parse_commands(words: Iterable[str], known: Iterable[str]) -> list[str]:
    """Command words as typed ("backup verify cost check") into the commands they name, longest first."""
    words, known = list(words), sorted(known, key=lambda c: -len(c.split()))
    out: list[str] = []
    i = 0
    while i < len(words):
        found = next((c for c in known if words[i:i + len(c.split())] == c.split()), None)
        if found is None:
            if words[i] in NOT_DERIVED:
                raise UsageError(f"dbops {words[i]}: not derived: {NOT_DERIVED[words[i]]}")
            raise UsageError(f"unknown command '{' '.join(words[i:i + 2])}': one of {', '.join(sorted(known))}")
        out.append(found)
        i += len(found.split())
    return out


def needs_of(commands: Iterable[str]) -> list[Need]:
    table = command_calls()
    return [n for c in commands for calls in table[c] for n in calls.needs]


def terraform(document: dict) -> str:
    """HCL to paste: a local holding the policy as jsonencode of the same document, in `terraform fmt`'s style
    (`"key" : value`) and with template sequences escaped (`$${`, `%%{`): HCL strings are templates."""
    body = json.dumps(document, indent=2, separators=(",", " : ")).replace("${", "$${").replace("%{", "%%{")
    return "locals {\n  dbops_policy = jsonencode(" + body.replace("\n", "\n  ") + ")\n}\n"


@click.command()
@click.argument("words", nargs=-1, metavar="[COMMAND...]")
@click.option("--format", "fmt", type=click.Choice(["json", "terraform"]), default="json", show_default=True,
              help="An IAM policy document, or HCL (jsonencode of the same document) to paste into Terraform.")
@env_option
def permissions(words: tuple[str, ...], fmt: str, env_name: str | None) -> None:
    """Print the least-privilege IAM policy the named commands need (none named: every command).

    COMMAND words as typed, e.g. `dbops permissions drill failover drill restore backup verify cost check`.
    ARNs are scoped to the env's account (`*` when it names none) and each of its regions; writes on the
    estate's clusters to those tagged dbops:env=ENV; deletes to what drills tagged with dbops:drill-id."""
    table = command_calls()
    commands = parse_commands(words, table) if words else sorted(table)
    cfg = app().config
    env = cfg.env(env_name)
    document = policy(needs_of(commands), env.all_regions, env.account_id, env.lease_table,
                      tuple(a.role_arn for a in env.accounts), env=env.name)
    if not document["Statement"]:
        # IAM refuses a policy without a statement: say so instead of printing one.
        click.echo(f"{' and '.join(commands)}: no AWS permission is needed (nothing printed)", err=True)
        return
    click.echo(terraform(document) if fmt == "terraform" else json.dumps(document, indent=2))


def compare(recorded: set[tuple[str, str]]) -> tuple[list[str], dict[str, list[str]]]:
    """Recorded (command, call) pairs against the declarations: the calls made but not declared for their
    command ("drill restore: rds:CopyDBClusterSnapshot"), and per command run, the declared calls never made.

    A command not in the table (the lab's, Terraform's) declares nothing: every call it made is undeclared."""
    table = command_calls()
    undeclared = sorted(f"{command}: {call}" for command, call in recorded
                        if call not in {n.call for calls in table.get(command, ()) for n in calls.needs})
    unused = {}
    for command in sorted({c for c, _ in recorded}):
        made = {call for c, call in recorded if c == command}
        declared = {n.call for calls in table.get(command, ()) for n in calls.needs}
        if declared - made:
            unused[command] = sorted(declared - made)
    return undeclared, unused
