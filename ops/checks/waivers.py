"""Waivers: a failing finding the env accepts until a date, for a reason it states.

A waived failure is a warning that names the waiver; an expired waiver changes nothing but is named
beside the failure, so nobody wonders why it came back.
"""

from __future__ import annotations

from datetime import date

from ops.checks.registry import Finding
from ops.config import Waiver


def apply(finding: Finding, target: str, waivers: tuple[Waiver, ...], today: date) -> Finding:
    if finding.status != "fail":
        return finding
    for w in waivers:
        if w.check != finding.check_id or w.target not in (None, target):
            continue
        if today <= w.expires:
            return Finding(finding.check_id, "warn", f"waived until {w.expires.isoformat()}: {w.reason} (finding: {finding.detail})")
        return Finding(finding.check_id, "fail", f"{finding.detail} (its waiver expired on {w.expires.isoformat()}: {w.reason})")
    return finding
