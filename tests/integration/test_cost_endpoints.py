"""Two Cost Explorer endpoints asked the same question through one cache directory each get
their own answer: the cache is keyed by account, endpoint and region, not by the request alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from ops.lab.process import free_port
from ops.proc import port_open
from tests.conftest import REPO, Cli

RDS = "Amazon Relational Database Service"


def start_emulator(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ops.lab.aws.emulator_server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"emulator did not start; see {log}")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def two_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    logs = tmp_path_factory.mktemp("emulators")
    started = [start_emulator(logs / f"emulator-{i}.log") for i in (1, 2)]
    try:
        yield started[0][1], started[1][1]
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(timeout=10)


def seed(endpoint: str, amount: float, month: date) -> None:
    end = (month + timedelta(days=32)).replace(day=1)
    result = {"ResultsByTime": [{"TimePeriod": {"Start": month.isoformat(), "End": end.isoformat()}, "Total": {}, "Estimated": False,
                                 "Groups": [{"Keys": [RDS, "USE1-InstanceUsage:db.t3.medium"],
                                             "Metrics": {"UnblendedCost": {"Amount": f"{amount:.2f}", "Unit": "USD"}}}]}],
              "DimensionValueAttributes": []}
    for path, body in (("/moto-api/reset", {}), ("/moto-api/static/ce/cost-and-usage-results", {"results": [result]})):
        urllib.request.urlopen(urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST")).read()


def test_two_endpoints_with_the_same_request_get_their_own_answers(two_endpoints: tuple[str, str], fresh_root: Path) -> None:
    lab_url, other_url = two_endpoints
    (fresh_root / "dbops.toml").write_text(f"""
[defaults]
env = "one"
report_dir = "{fresh_root / 'reports'}"

[envs.one]
region = "us-east-1"
endpoint = "{lab_url}"

[envs.two]
region = "us-east-1"
endpoint = "{other_url}"
""")
    cli = Cli(fresh_root / "dbops.toml", fresh_root / ".lab")
    today = datetime.now(timezone.utc).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # a closed month: the same request every day
    seed(lab_url, 12.0, last_month)
    seed(other_url, 500.0, last_month)

    one = cli("cost", "check", "--env", "one", "--month", f"{last_month:%Y-%m}", "--json")
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["measurements"]["month_to_date_usd"] == pytest.approx(12.0)
    two = cli("cost", "check", "--env", "two", "--month", f"{last_month:%Y-%m}", "--json")
    assert two.exit_code == 1, two.output
    assert json.loads(two.stdout)["measurements"]["month_to_date_usd"] == pytest.approx(500.0)
    assert "0 answered from the cache" in two.stderr

    again = cli("cost", "check", "--env", "one", "--month", f"{last_month:%Y-%m}", "--json")
    assert json.loads(again.stdout)["measurements"]["month_to_date_usd"] == pytest.approx(12.0)
    assert json.loads(again.stdout)["measurements"]["ce_paid_requests"] == 0
