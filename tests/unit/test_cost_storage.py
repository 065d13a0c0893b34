"""Which Cost Explorer usage types the cost check counts as storage (COST-STORAGE)."""

from __future__ import annotations

import pytest

from ops.cost.check import is_storage


@pytest.mark.parametrize("usage_type, storage", [
    ("Aurora:StorageUsage", True),
    ("USE2-Aurora:StorageUsage", True),
    ("Aurora:BackupUsage", True),
    ("TimedStorage-ByteHrs", True),
    ("USW2-TimedPITRStorage-ByteHrs", True),
    ("WarmStorage-ByteHrs", True),
    # Aurora's I/O requests are billed per request, whatever their usage type says.
    ("Aurora:StorageIOUsage", False),
    ("USE2-Aurora:StorageIOUsage", False),
    ("InstanceUsage:db.t3.medium", False),
    ("WriteRequestUnits", False),
    ("us-east-1-KMS-Keys", False),
])
def test_storage_is_told_apart_by_usage_type(usage_type: str, storage: bool) -> None:
    assert is_storage(usage_type) is storage
