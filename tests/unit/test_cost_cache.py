"""The Cost Explorer cache answers a request only for the account, endpoint and region that asked it."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions

from ops.cost.cache import CacheScope, CeCache, scoped_cache

PARAMS = {"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-23"}, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"]}
LAB = CacheScope(account="123456789012", endpoint="http://127.0.0.1:5000", region="us-east-1")
PROD = CacheScope(account="210987654321", endpoint="aws", region="us-east-1")


class Fetch:
    def __init__(self, amount: str) -> None:
        self.amount, self.calls = amount, 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"ResultsByTime": [{"Total": {"UnblendedCost": {"Amount": self.amount}}}], "ResponseMetadata": {"RequestId": "x"}}


def amount(response: dict) -> str:
    return response["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]


def test_same_request_in_two_accounts_gets_each_its_own_answer(tmp_path: Path) -> None:
    lab_fetch, prod_fetch = Fetch("1.00"), Fetch("900.00")
    assert amount(CeCache(tmp_path, LAB).call("GetCostAndUsage", PARAMS, lab_fetch)) == "1.00"
    prod = CeCache(tmp_path, PROD)
    assert amount(prod.call("GetCostAndUsage", PARAMS, prod_fetch)) == "900.00"
    assert prod.paid_requests == 1 and prod.hits == 0
    again = CeCache(tmp_path, PROD)
    assert amount(again.call("GetCostAndUsage", PARAMS, prod_fetch)) == "900.00"
    assert again.hits == 1 and prod_fetch.calls == 1
    assert amount(CeCache(tmp_path, LAB).call("GetCostAndUsage", PARAMS, lab_fetch)) == "1.00" and lab_fetch.calls == 1


def test_same_account_at_another_endpoint_or_region_is_asked_again(tmp_path: Path) -> None:
    first = Fetch("1.00")
    CeCache(tmp_path, LAB).call("GetCostAndUsage", PARAMS, first)
    for scope in (CacheScope(LAB.account, "http://127.0.0.1:5001", LAB.region), CacheScope(LAB.account, LAB.endpoint, "eu-west-1")):
        other = Fetch("2.00")
        cache = CeCache(tmp_path, scope)
        assert amount(cache.call("GetCostAndUsage", PARAMS, other)) == "2.00"
        assert cache.paid_requests == 1 and cache.hits == 0


def test_unreadable_account_turns_the_cache_off(tmp_path: Path) -> None:
    def denied() -> str:
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetCallerIdentity")

    cache = scoped_cache(tmp_path / "ce", denied, endpoint=None, region="us-east-1")
    assert not cache.enabled
    assert cache.off_reason and "account" in cache.off_reason and "\n" not in cache.off_reason
    fetch = Fetch("3.00")
    cache.call("GetCostAndUsage", PARAMS, fetch)
    cache.call("GetCostAndUsage", PARAMS, fetch)
    assert fetch.calls == 2 and cache.paid_requests == 2 and cache.hits == 0
    assert not (tmp_path / "ce").exists()  # nothing written under a key no one could scope


def test_readable_account_scopes_the_cache(tmp_path: Path) -> None:
    cache = scoped_cache(tmp_path, lambda: "123456789012", endpoint=None, region="us-east-1")
    assert cache.enabled and cache.scope == CacheScope("123456789012", "aws", "us-east-1")
    assert not scoped_cache(tmp_path, lambda: "123456789012", endpoint=None, region="us-east-1", enabled=False).enabled
