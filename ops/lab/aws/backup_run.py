"""`dbops lab backup run`: ask the lab's emulator to run the AWS Backup plans now, then wait for the
jobs through the AWS Backup API (DescribeBackupJob), as a scheduled run would be watched."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from ops.errors import LabError, UsageError
from ops.lab.aws.backup_jobs import RUN_PATH

ENDED = ("COMPLETED", "FAILED", "EXPIRED", "ABORTED", "PARTIAL")


def start(endpoint: str, plan: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Start the plans' jobs in the emulator; returns {"jobs": [...], "skipped": [...]}."""
    body = json.dumps({"plan": plan} if plan else {}).encode()
    request = urllib.request.Request(endpoint.rstrip("/") + RUN_PATH, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message")
        except ValueError:
            message = None
        raise LabError(f"the lab emulator could not run the backup plans: {message or f'HTTP {exc.code}'}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LabError(f"the lab emulator at {endpoint} does not answer: {exc}") from None


def run(endpoint: str, plan: str | None, wait: bool, timeout: float, echo: Callable[[str], None],
        client_for: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Run the plans; with wait, until every job has ended. Returns the jobs as DescribeBackupJob gives them."""
    started = start(endpoint, plan)
    for s in started["skipped"]:
        echo(f"skipped rule {s['rule']} of plan {s['plan']}: {s['why']}")
    if not started["jobs"]:
        raise UsageError(f"backup plan '{plan}' does not exist or selects no resource of the lab" if plan else
                         "no backup plan of the lab selects a resource: apply the lab env (`dbops tf apply --env lab`) first")
    for j in started["jobs"]:
        echo(f"started backup job {j['BackupJobId']} of {j['ResourceArn']} (plan {j['BackupPlanName']}, rule {j['RuleName']})")
    describe = lambda j: client_for(j["Region"]).describe_backup_job(BackupJobId=j["BackupJobId"])  # noqa: E731
    if not wait:
        return [describe(j) for j in started["jobs"]]
    deadline = time.monotonic() + timeout
    last_said = time.monotonic()
    while True:
        jobs = [describe(j) for j in started["jobs"]]
        ended = [j for j in jobs if j["State"] in ENDED]
        if len(ended) == len(jobs):
            break
        if time.monotonic() > deadline:
            raise LabError(f"{len(jobs) - len(ended)} backup job(s) had not ended after {timeout:.0f}s")
        if time.monotonic() - last_said >= 10:
            last_said = time.monotonic()
            echo(f"waiting: {len(ended)} of {len(jobs)} backup job(s) ended")
        time.sleep(0.5)
    for j in jobs:
        what = f"recovery point {j['RecoveryPointArn']}" if j["State"] == "COMPLETED" else j.get("StatusMessage", "")
        echo(f"{j['State']:<9} {j.get('ResourceType', ''):<8} {j['ResourceArn']}: {what}")
    return jobs
