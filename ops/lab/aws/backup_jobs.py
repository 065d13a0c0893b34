"""AWS Backup jobs, recovery points and restore jobs for the lab's emulator.

moto 5 stores backup plans and vaults but runs no job. This extension, loaded into the
emulator process, adds what AWS Backup does with them, with the request and response shapes,
states and errors of the AWS Backup API reference:

- StartBackupJob, DescribeBackupJob, ListBackupJobs (its filters, MaxResults/NextToken),
  StopBackupJob. A job is CREATED, then RUNNING (PercentDone rising), then COMPLETED with its
  CompletionDate, BackupSizeInBytes and RecoveryPointArn — over `backup_job_seconds`.
- The recovery point is made with the emulator's own snapshot mechanisms, so the data comes
  along: a DynamoDB table through its on-demand backup (the items at backup time; listed by
  DynamoDB ListBackups as BackupType AWS_BACKUP), an Aurora cluster through a cluster snapshot
  `awsbackup:job-<id>` of the RDS backend (which the lab's Aurora data plane fills). Recovery
  point ARNs are those AWS gives: `arn:aws:backup:...:recovery-point:<id>` for DynamoDB (with
  advanced DynamoDB backup, the default since November 2021), the snapshot's ARN for Aurora.
- ListRecoveryPointsByResource, ListRecoveryPointsByBackupVault, DescribeRecoveryPoint,
  GetRecoveryPointRestoreMetadata, DeleteRecoveryPoint. Encryption as AWS Backup does it: a
  DynamoDB point is encrypted with the vault's key; an Aurora point, a snapshot, with the
  cluster's key (unencrypted when the cluster is). Lifecycle from the job (the plan rule's,
  or StartBackupJob's), CalculatedLifecycle from the creation date; a point past its DeleteAt
  is deleted.
- StartRestoreJob, DescribeRestoreJob, ListRestoreJobs for the recovery points the lab made:
  PENDING, RUNNING, COMPLETED with CreatedResourceArn (DynamoDB RestoreTableFromBackup into
  `targetTableName`; Aurora RestoreDBClusterFromSnapshot into `DBClusterIdentifier`, a cluster
  without instances, as AWS Backup restores one). A restore that fails is FAILED with the
  service's message.
- `POST /moto-api/dbops-lab/backup/run` runs the backup plans' rules now, as their schedule
  would: one job per rule and per resource its plan's selections cover (by ARN or tag), with
  the rule's vault and lifecycle, the selection's IAM role and CreatedBy naming plan and rule.
  Continuous-backup rules are skipped: the lab keeps no continuous recovery points.

Settings: `backup_job_seconds`, `backup_restore_seconds`, and the fault switch `backup_fault`,
used once by the next job it applies to: the next backup job FAILED or EXPIRED (with the
StatusMessage the service gives), the next recovery point unencrypted, the next restore job
FAILED, or the next restore made from the resource's current data instead of the point's.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import unquote

from ops.lab.aws import settings

RUN_PATH = "/moto-api/dbops-lab/backup/run"
FAULTS = ("none", "job-failed", "job-expired", "point-unencrypted", "restore-failed", "restore-live-data")
JOB_FAULTS = ("job-failed", "job-expired", "point-unencrypted")
RESTORE_FAULTS = ("restore-failed", "restore-live-data")
# What the service answers (AWS Backup console and API, as seen in the field).
FAILED_MESSAGE = "Insufficient privileges to perform this action."
EXPIRED_MESSAGE = "Backup job expired before completion."
RUNNING_STATES = ("CREATED", "PENDING", "RUNNING", "ABORTING")
DEFAULT_START_WINDOW_MIN = 480  # StartBackupJob: 8 hours unless given
AURORA_READY_S = 900.0


def register_settings() -> None:
    settings.register("backup_job_seconds", 2.0, "seconds a lab AWS Backup job runs (CREATED, RUNNING, then COMPLETED)",
                      minimum=0, maximum=3600)
    settings.register("backup_restore_seconds", 2.0, "seconds a lab AWS Backup restore job runs at least (PENDING, RUNNING, COMPLETED)",
                      minimum=0, maximum=3600)
    settings.register("backup_fault", "none",
                      "fault for the next AWS Backup job it applies to (used once): job-failed, job-expired, point-unencrypted, "
                      "restore-failed, restore-live-data", choices=FAULTS)


_fault_lock = threading.Lock()


def take_fault(kinds: tuple[str, ...]) -> str | None:
    """The armed fault if it is one of kinds, disarmed as it is taken."""
    with _fault_lock:
        fault = settings.get("backup_fault")
        if fault in kinds:
            settings.update({"backup_fault": "none"})
            return fault
    return None


# --- errors ------------------------------------------------------------------------------------


def _errors() -> Any:
    from moto.backup import exceptions as e
    from moto.core.exceptions import JsonRESTError

    class MissingParameterValueException(JsonRESTError):
        def __init__(self, msg: str):
            super().__init__("MissingParameterValueException", msg)

    class InvalidResourceStateException(JsonRESTError):
        def __init__(self, msg: str):
            super().__init__("InvalidResourceStateException", msg)

    e.MissingParameterValueException = MissingParameterValueException
    e.InvalidResourceStateException = InvalidResourceStateException
    return e


# --- the lab's state in each Backup backend ----------------------------------------------------


@dataclass
class Resource:
    arn: str
    type: str  # DynamoDB | Aurora
    name: str
    account: str
    region: str

    def tags(self) -> dict[str, str]:
        if self.type == "DynamoDB":
            table = _ddb(self.account, self.region).tables.get(self.name)
            return {t["Key"]: t["Value"] for t in (table.tags if table else []) or []}
        cluster = _rds(self.account, self.region).clusters.get(self.name)
        return {t["Key"]: t["Value"] for t in (cluster.tags if cluster else []) or []}


@dataclass
class Job:
    id: str
    account: str
    region: str
    vault_name: str
    vault_arn: str
    resource: Resource
    role: str
    created: float
    start_by: float
    expected: float
    lifecycle: dict[str, Any] | None
    point_tags: dict[str, str]
    created_by: dict[str, str] | None
    point_arn: str
    fault: str | None
    state: str = "CREATED"
    status_message: str | None = None
    completed: float | None = None
    size: int | None = None
    message_category: str | None = None
    stop: bool = False
    token: str | None = None  # IdempotencyToken: the same request again is the same job

    def percent(self, now: float) -> str:
        if self.state == "COMPLETED":
            return "100.0"
        if self.state == "CREATED":
            return "0.0"
        return f"{min(99.0, max(0.0, (now - self.created) / max(self.expected - self.created, 0.001) * 100)):.1f}"

    def describe(self) -> dict[str, Any]:
        return {
            "AccountId": self.account, "BackupJobId": self.id, "BackupVaultName": self.vault_name, "BackupVaultArn": self.vault_arn,
            "RecoveryPointArn": self.point_arn, "ResourceArn": self.resource.arn, "ResourceType": self.resource.type,
            "ResourceName": self.resource.name, "CreationDate": self.created, "InitiationDate": self.created,
            "CompletionDate": self.completed, "State": self.state, "StatusMessage": self.status_message,
            "PercentDone": self.percent(time.time()), "BackupSizeInBytes": self.size, "BytesTransferred": self.size,
            "IamRoleArn": self.role, "CreatedBy": self.created_by, "ExpectedCompletionDate": self.expected, "StartBy": self.start_by,
            "IsParent": False, "MessageCategory": self.message_category,
        }


@dataclass
class Point:
    arn: str
    job: Job
    status: str
    created: float
    encryption_key: str | None
    lifecycle: dict[str, Any] | None
    ddb_backup_arn: str | None = None
    snapshot_id: str | None = None
    completed: float | None = None
    size: int | None = None
    last_restore: float | None = None

    @property
    def resource(self) -> Resource:
        return self.job.resource

    def calculated(self) -> dict[str, float] | None:
        if not self.lifecycle:
            return None
        out = {}
        if self.lifecycle.get("MoveToColdStorageAfterDays"):
            out["MoveToColdStorageAt"] = self.created + int(self.lifecycle["MoveToColdStorageAfterDays"]) * 86400
        if self.lifecycle.get("DeleteAfterDays"):
            out["DeleteAt"] = self.created + int(self.lifecycle["DeleteAfterDays"]) * 86400
        return out or None

    def describe(self) -> dict[str, Any]:
        j = self.job
        return {
            "RecoveryPointArn": self.arn, "BackupVaultName": j.vault_name, "BackupVaultArn": j.vault_arn,
            "ResourceArn": self.resource.arn, "ResourceType": self.resource.type, "ResourceName": self.resource.name,
            "CreatedBy": j.created_by, "IamRoleArn": j.role, "Status": self.status, "CreationDate": self.created,
            "CompletionDate": self.completed, "BackupSizeInBytes": self.size, "BackupSizeBytes": self.size,
            "Lifecycle": self.lifecycle, "CalculatedLifecycle": self.calculated(),
            "EncryptionKeyArn": self.encryption_key, "IsEncrypted": self.encryption_key is not None,
            "StorageClass": "WARM", "LastRestoreTime": self.last_restore, "IsParent": False, "VaultType": "BACKUP_VAULT",
        }


@dataclass
class Restore:
    id: str
    account: str
    point: Point
    role: str | None
    metadata: dict[str, str]
    created: float
    fault: str | None
    status: str = "PENDING"
    status_message: str | None = None
    completed: float | None = None
    created_arn: str | None = None

    def describe(self) -> dict[str, Any]:
        p = self.point
        done = self.status == "COMPLETED"
        return {
            "AccountId": self.account, "RestoreJobId": self.id, "RecoveryPointArn": p.arn, "CreationDate": self.created,
            "CompletionDate": self.completed, "Status": self.status, "StatusMessage": self.status_message,
            "PercentDone": "100.0" if done else ("0.0" if self.status == "PENDING" else "50.0"),
            "BackupSizeInBytes": p.size, "IamRoleArn": self.role, "ExpectedCompletionTimeMinutes": 1,
            "CreatedResourceArn": self.created_arn, "ResourceType": p.resource.type, "RecoveryPointCreationDate": p.created,
        }


@dataclass
class LabBackup:
    lock: threading.RLock = field(default_factory=threading.RLock)
    jobs: dict[str, Job] = field(default_factory=dict)
    points: dict[str, Point] = field(default_factory=dict)
    restores: dict[str, Restore] = field(default_factory=dict)


def lab_state(backend: Any) -> LabBackup:
    if not hasattr(backend, "dbops_backup"):
        backend.dbops_backup = LabBackup()
    return backend.dbops_backup


def _ddb(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


def _rds(account: str, region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[account][region]


def resource_for(arn: str, account: str, region: str) -> Resource:
    """The lab resource an ARN names; unsupported types and unknown resources are refused as the service refuses them."""
    e = _errors()
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise e.InvalidParameterValueException(msg=f"Invalid ARN: {arn}")
    service, rest = parts[2], parts[5]
    if service == "dynamodb" and rest.startswith("table/") and "/" not in rest[len("table/"):]:
        name = rest[len("table/"):]
        if name not in _ddb(account, region).tables:
            raise e.ResourceNotFoundException(msg=f"Resource not found: {arn}")
        return Resource(arn, "DynamoDB", name, account, region)
    if service == "rds" and rest.startswith("cluster:"):
        name = rest[len("cluster:"):]
        cluster = _rds(account, region).clusters.get(name)
        if cluster is None:
            raise e.ResourceNotFoundException(msg=f"Resource not found: {arn}")
        if not str(cluster.engine).startswith("aurora"):
            raise e.InvalidParameterValueException(msg=f"Resource type of {arn} is not supported by the dbops lab")
        return Resource(arn, "Aurora", name, account, region)
    raise e.InvalidParameterValueException(msg=f"Resource type of {arn} is not supported by the dbops lab "
                                                "(it backs up DynamoDB tables and Aurora clusters)")


def candidates(account: str, region: str) -> Iterator[Resource]:
    """Every resource of the lab AWS Backup could select (DynamoDB tables, Aurora clusters)."""
    for name, table in list(_ddb(account, region).tables.items()):
        yield Resource(table.table_arn, "DynamoDB", name, account, region)
    for name, cluster in list(_rds(account, region).clusters.items()):
        if str(cluster.engine).startswith("aurora"):
            yield Resource(cluster.db_cluster_arn, "Aurora", name, account, region)


# --- backup jobs -------------------------------------------------------------------------------


def _validate_lifecycle(lifecycle: dict[str, Any] | None) -> None:
    if not lifecycle:
        return
    e = _errors()
    cold, delete = lifecycle.get("MoveToColdStorageAfterDays"), lifecycle.get("DeleteAfterDays")
    if delete is not None and int(delete) < 1:
        raise e.InvalidParameterValueException(msg="Lifecycle DeleteAfterDays must be at least 1")
    if cold is not None and delete is not None and int(delete) < int(cold) + 90:
        raise e.InvalidParameterValueException(
            msg="Invalid lifecycle. DeleteAfterDays must be at least 90 days greater than MoveToColdStorageAfterDays")


def start_job(backend: Any, vault_name: str, resource_arn: str, role: str, lifecycle: dict[str, Any] | None = None,
              point_tags: dict[str, str] | None = None, created_by: dict[str, str] | None = None,
              start_window_min: int | None = None, token: str | None = None) -> Job:
    e = _errors()
    lab = lab_state(backend)
    vault = backend.vaults.get(vault_name)
    if vault is None:
        raise e.ResourceNotFoundException(msg=f"Backup vault {vault_name} not found")
    if not role:
        raise e.MissingParameterValueException("IamRoleArn is required")
    _validate_lifecycle(lifecycle)
    resource = resource_for(resource_arn, backend.account_id, backend.region_name)
    with lab.lock:
        if token:
            for j in lab.jobs.values():
                if j.token == token and j.resource.arn == resource_arn:
                    return j  # the same request again: the same job
        now = time.time()
        job_id = str(uuid.uuid4()).upper()
        if resource.type == "DynamoDB":
            point_arn = f"arn:aws:backup:{backend.region_name}:{backend.account_id}:recovery-point:{str(uuid.uuid4()).upper()}"
        else:
            point_arn = f"arn:aws:rds:{backend.region_name}:{backend.account_id}:cluster-snapshot:awsbackup:job-{job_id.lower()}"
        duration = float(settings.get("backup_job_seconds"))
        job = Job(job_id, backend.account_id, backend.region_name, vault.backup_vault_name, vault.backup_vault_arn, resource, role,
                  now, now + 60 * (start_window_min or DEFAULT_START_WINDOW_MIN), now + duration, lifecycle, dict(point_tags or {}),
                  created_by, point_arn, take_fault(JOB_FAULTS), token=token)
        lab.jobs[job_id] = job
    threading.Thread(target=_run_job, args=(backend, job, duration), name=f"backup-job-{job_id[:8]}", daemon=True).start()
    return job


def _end(backend: Any, job: Job, state: str, message: str | None, category: str | None) -> None:
    lab = lab_state(backend)
    with lab.lock:
        job.state, job.status_message, job.message_category = state, message, category
        job.completed = time.time()
        point = lab.points.pop(job.point_arn, None)
    if point is not None:
        _drop_data(point)


def _run_job(backend: Any, job: Job, duration: float) -> None:
    lab = lab_state(backend)
    time.sleep(min(0.5, duration / 4))
    if job.stop:
        _end(backend, job, "ABORTED", "Backup job was stopped by the user.", None)
        return
    with lab.lock:
        job.state = "RUNNING"
        if job.fault != "job-expired":
            encrypted_with = None if job.fault == "point-unencrypted" else _point_key(backend, job)
            lab.points[job.point_arn] = Point(job.point_arn, job, "CREATING", job.created, encrypted_with, job.lifecycle)
    if job.fault == "job-expired":
        time.sleep(max(0.0, job.expected - time.time()))
        _end(backend, job, "EXPIRED", EXPIRED_MESSAGE, None)
        return
    try:
        snapshot, size = _snapshot(job)
    except Exception as exc:  # noqa: BLE001 — the job fails with what the snapshot said
        traceback.print_exc()
        _end(backend, job, "FAILED", f"{job.resource.type} backup failed: {exc}", "FAILED")
        return
    with lab.lock:
        point = lab.points.get(job.point_arn)
        if point is not None:
            if job.resource.type == "DynamoDB":
                point.ddb_backup_arn = snapshot
            else:
                point.snapshot_id = snapshot
    time.sleep(max(0.0, job.expected - time.time()))
    if job.fault == "job-failed":
        _end(backend, job, "FAILED", FAILED_MESSAGE, "AccessDenied")
        return
    if job.stop:
        _end(backend, job, "ABORTED", "Backup job was stopped by the user.", None)
        return
    with lab.lock:
        now = time.time()
        job.state, job.completed, job.size, job.message_category = "COMPLETED", now, size, "SUCCESS"
        if point is not None:
            point.status, point.completed, point.size = "COMPLETED", now, size
    if point is not None:
        backend.tag_resource(point.arn, job.point_tags)


def _point_key(backend: Any, job: Job) -> str | None:
    """DynamoDB (advanced backup): the vault's key, AWS Backup's own key when the vault has none.
    Aurora: the snapshot keeps the cluster's key; an unencrypted cluster gives an unencrypted point."""
    if job.resource.type == "DynamoDB":
        vault = backend.vaults.get(job.vault_name)
        return (vault.encryption_key_arn if vault else None) or f"arn:aws:kms:{job.region}:{job.account}:alias/aws/backup"
    cluster = _rds(job.account, job.region).clusters.get(job.resource.name)
    if cluster is None or not cluster.storage_encrypted:
        return None
    return cluster.kms_key_id


def _snapshot(job: Job) -> tuple[str, int]:
    """Take the data: a DynamoDB on-demand backup, or an RDS cluster snapshot. Returns its id and size in bytes."""
    r = job.resource
    if r.type == "DynamoDB":
        ddb = _ddb(r.account, r.region)
        for attempt in range(5):  # the table may change while it is copied: copy it again
            try:
                backup = ddb.create_backup(r.name, f"awsbackup-job-{job.id.lower()}")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
        backup.type = "AWS_BACKUP"
        return backup.arn, sum(item.size() for item in backup.table.all_items())
    rds = _rds(r.account, r.region)
    snapshot_id = f"awsbackup:job-{job.id.lower()}"
    snap = rds.create_db_cluster_snapshot(r.name, snapshot_id, tags=[{"Key": k, "Value": v} for k, v in job.point_tags.items()] or None)
    return snapshot_id, int(getattr(snap, "allocated_storage", 0) or 0) * 2**30


def _drop_data(point: Point) -> None:
    r = point.resource
    try:
        if point.ddb_backup_arn:
            _ddb(r.account, r.region).delete_backup(point.ddb_backup_arn)
        elif point.snapshot_id:
            _rds(r.account, r.region).delete_db_cluster_snapshot(point.snapshot_id)
    except Exception:  # noqa: BLE001 — gone already
        pass


def expire(backend: Any) -> None:
    """Delete the recovery points whose lifecycle says they are due (AWS Backup does it within a day or so)."""
    lab = lab_state(backend)
    now = time.time()
    with lab.lock:
        due = [p for p in lab.points.values() if p.status == "COMPLETED" and (p.calculated() or {}).get("DeleteAt", now + 1) <= now]
        for p in due:
            del lab.points[p.arn]
    for p in due:
        _drop_data(p)


# --- restore jobs ------------------------------------------------------------------------------


def restore_metadata(point: Point) -> dict[str, str]:
    r = point.resource
    if r.type == "DynamoDB":
        table = _ddb(r.account, r.region).tables.get(r.name)
        sse = (getattr(table, "sse_specification", None) or {}) if table else {}
        kms = bool(sse.get("Enabled")) and sse.get("SSEType", "KMS") == "KMS"
        meta = {"originalTableName": r.name, "targetTableName": r.name, "encryptionType": "KMS" if kms else "Default"}
        if kms and sse.get("KMSMasterKeyId"):
            meta["kmsMasterKeyArn"] = sse["KMSMasterKeyId"]
        return meta
    cluster = _rds(r.account, r.region).clusters.get(r.name)
    meta = {"DBClusterIdentifier": r.name}
    if cluster is not None:
        meta.update({
            "Engine": cluster.engine, "EngineVersion": cluster.engine_version, "Port": str(cluster.port),
            "DBSubnetGroupName": getattr(cluster, "db_subnet_group_name", None) or "",
            "VpcSecurityGroupIds": json.dumps(list(getattr(cluster, "_vpc_security_group_ids", None) or [])),
            "DatabaseName": getattr(cluster, "database_name", None) or "",
            "KmsKeyId": cluster.kms_key_id if cluster.storage_encrypted else "",
            "DeletionProtection": "false", "CopyTagsToSnapshot": str(bool(cluster.copy_tags_to_snapshot)).lower(),
        })
    return {k: v for k, v in meta.items() if v}


def start_restore(backend: Any, point_arn: str, metadata: dict[str, str], role: str | None, resource_type: str | None) -> Restore:
    e = _errors()
    lab = lab_state(backend)
    expire(backend)
    with lab.lock:
        point = lab.points.get(point_arn)
    if point is None:
        raise e.ResourceNotFoundException(msg=f"Recovery point {point_arn} not found")
    if point.status != "COMPLETED":
        raise e.InvalidRequestException(msg=f"Recovery point {point_arn} is {point.status}: only a completed recovery point can be restored")
    if resource_type and resource_type != point.resource.type:
        raise e.InvalidParameterValueException(msg=f"ResourceType {resource_type} does not match the recovery point's {point.resource.type}")
    needed = "targetTableName" if point.resource.type == "DynamoDB" else "DBClusterIdentifier"
    if not metadata.get(needed):
        raise e.MissingParameterValueException(f"Metadata {needed} is required to restore a {point.resource.type} recovery point")
    with lab.lock:
        restore = Restore(str(uuid.uuid4()).upper(), backend.account_id, point, role, dict(metadata), time.time(),
                          take_fault(RESTORE_FAULTS))
        lab.restores[restore.id] = restore
    threading.Thread(target=_run_restore, args=(backend, restore, float(settings.get("backup_restore_seconds"))),
                     name=f"restore-job-{restore.id[:8]}", daemon=True).start()
    return restore


def _run_restore(backend: Any, restore: Restore, duration: float) -> None:
    lab = lab_state(backend)
    time.sleep(min(0.5, duration / 4))
    with lab.lock:
        restore.status = "RUNNING"
    try:
        if restore.fault == "restore-failed":
            time.sleep(duration / 2)
            raise RuntimeError(FAILED_MESSAGE)
        arn = _restore_data(restore)
    except Exception as exc:  # noqa: BLE001 — the job fails with the service's message
        traceback.print_exc()
        message = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        with lab.lock:
            restore.status, restore.status_message, restore.completed = "FAILED", message, time.time()
        return
    time.sleep(max(0.0, restore.created + duration - time.time()))
    with lab.lock:
        restore.status, restore.completed, restore.created_arn = "COMPLETED", time.time(), arn
        restore.point.last_restore = restore.completed


def _restore_data(restore: Restore) -> str:
    point, meta = restore.point, restore.metadata
    r = point.resource
    live = restore.fault == "restore-live-data"
    if r.type == "DynamoDB":
        ddb = _ddb(r.account, r.region)
        target = meta["targetTableName"]
        backup_arn = point.ddb_backup_arn
        if live:  # the fault: the table as it is now, not as the point holds it
            backup_arn = ddb.create_backup(r.name, f"dbops-lab-live-{restore.id.lower()}").arn
        try:
            table = ddb.restore_table_from_backup(target, backup_arn)
        finally:
            if live:
                ddb.delete_backup(backup_arn)
        if meta.get("encryptionType") == "KMS":
            table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": meta.get("kmsMasterKeyArn")}
        table.tags = []  # a restored table has no tags until they are added
        return table.table_arn
    rds = _rds(r.account, r.region)
    snapshot_id = point.snapshot_id
    if live:
        snapshot_id = f"dbops-lab-live-{restore.id.lower()}"
        rds.create_db_cluster_snapshot(r.name, snapshot_id)
    overrides: dict[str, Any] = {"db_cluster_identifier": meta["DBClusterIdentifier"], "snapshot_identifier": snapshot_id}
    for key, attr in (("Engine", "engine"), ("EngineVersion", "engine_version"), ("DBSubnetGroupName", "db_subnet_group_name"),
                      ("KmsKeyId", "kms_key_id"), ("DatabaseName", "database_name")):
        if meta.get(key):
            overrides[attr] = meta[key]
    if meta.get("Port"):
        overrides["port"] = int(meta["Port"])
    if meta.get("VpcSecurityGroupIds"):
        raw = meta["VpcSecurityGroupIds"]
        overrides["vpc_security_group_ids"] = json.loads(raw) if raw.startswith("[") else [s.strip() for s in raw.split(",") if s.strip()]
    cluster = rds.restore_db_cluster_from_snapshot(snapshot_id, overrides)
    cluster.tags = []
    deadline = time.time() + AURORA_READY_S
    while cluster.status not in ("available", "failed") and time.time() < deadline:
        time.sleep(0.5)
    if live:
        rds.delete_db_cluster_snapshot(snapshot_id)
    if cluster.status != "available":
        raise RuntimeError(f"the restored cluster {cluster.db_cluster_identifier} is {cluster.status}")
    return cluster.db_cluster_arn


# --- running the plans -------------------------------------------------------------------------


def run_plans(plan_name: str | None = None) -> dict[str, Any]:
    """Start the jobs the backup plans' rules would start now, in every account and region with plans."""
    from moto.backup.models import backup_backends

    from ops.lab.aws.backup_selections import selects, state

    started: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for account, regions in list(backup_backends.items()):
        for region, backend in list(regions.items()):
            selections, _ = state(backend)
            for plan in list(backend.plans.values()):
                name = plan.backup_plan.get("BackupPlanName")
                if plan.deletion_date is not None or (plan_name and name != plan_name):
                    continue
                chosen = [s for s in selections.values() if s["BackupPlanId"] == plan.backup_plan_id]
                covered: dict[str, tuple[Resource, str]] = {}
                for resource in candidates(account, region):
                    for s in chosen:
                        if selects(s["BackupSelection"], resource.arn, resource.tags()):
                            covered.setdefault(resource.arn, (resource, s["BackupSelection"]["IamRoleArn"]))
                for rule in plan.backup_plan.get("Rules", []):
                    if rule.get("EnableContinuousBackup"):
                        skipped.append({"plan": name, "rule": rule.get("RuleName", ""), "why": "continuous backup is not kept by the lab"})
                        continue
                    created_by = {"BackupPlanId": plan.backup_plan_id, "BackupPlanArn": plan.backup_plan_arn,
                                  "BackupPlanVersion": plan.version_id, "BackupRuleId": rule.get("RuleId", "")}
                    for resource, role in covered.values():
                        job = start_job(backend, rule["TargetBackupVaultName"], resource.arn, role, rule.get("Lifecycle"),
                                        rule.get("RecoveryPointTags"), created_by, rule.get("StartWindowMinutes"))
                        started.append({"BackupJobId": job.id, "ResourceArn": resource.arn, "ResourceType": resource.type,
                                        "BackupPlanName": name, "RuleName": rule.get("RuleName", ""), "Region": region,
                                        "AccountId": account})
    return {"jobs": started, "skipped": skipped}


def handle_run(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """The emulator's route: POST {"plan": NAME} (optional) runs the plans' rules now."""
    try:
        body = request.data.decode() if isinstance(request.data, bytes) else (request.data or "")
        data = json.loads(body or "{}")
        result = run_plans(data.get("plan") if isinstance(data, dict) else None)
        return 200, {"Content-Type": "application/json"}, json.dumps(result)
    except Exception as exc:  # noqa: BLE001 — said to the caller, never a hang
        traceback.print_exc()
        return 500, {"Content-Type": "application/json"}, json.dumps({"message": f"{type(exc).__name__}: {exc}"})


# --- the API -----------------------------------------------------------------------------------


_model_lock = threading.Lock()
_model: Any = None


def _members(shape: str) -> set[str]:
    global _model
    with _model_lock:
        if _model is None:
            import botocore.session

            _model = botocore.session.get_session().get_service_model("backup")
    return set(_model.shape_for(shape).members)


def shaped(shape: str, data: dict[str, Any]) -> dict[str, Any]:
    """Only the members the API reference gives this shape, and none that is unset."""
    keep = _members(shape)
    return {k: v for k, v in data.items() if k in keep and v is not None}


def _ts(value: str) -> float:
    """A timestamp of a query string: epoch seconds or ISO 8601 (what botocore sends)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _errors().InvalidParameterValueException(msg=f"Invalid timestamp: {value}") from None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def page(rows: list[dict[str, Any]], query: dict[str, list[str]], key: str) -> str:
    """One page of rows with MaxResults (1 to 1000) and an opaque NextToken, as every AWS Backup list call pages."""
    e = _errors()
    try:
        size = int(query.get("maxResults", ["1000"])[0])
    except ValueError:
        raise e.InvalidParameterValueException(msg="MaxResults must be a number") from None
    if not 1 <= size <= 1000:
        raise e.InvalidParameterValueException(msg="MaxResults must be between 1 and 1000")
    start = 0
    token = query.get("nextToken", [None])[0]
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise e.InvalidParameterValueException(msg="Invalid NextToken") from None
    out: dict[str, Any] = {key: rows[start:start + size]}
    if start + size < len(rows):
        out["NextToken"] = base64.urlsafe_b64encode(f"{key}:{start + size}".encode()).decode()
    return json.dumps(out)


def _q(self: Any) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in self.querystring.items()}


def _one(query: dict[str, list[str]], name: str) -> str | None:
    return query.get(name, [None])[0]


def _path_after(self: Any, marker: str) -> str:
    raw = getattr(self, "raw_path", None) or self.path
    return raw.split(marker, 1)[1]


def _in_window(value: float | None, after: str | None, before: str | None) -> bool:
    if after is not None and (value is None or value < _ts(after)):
        return False
    if before is not None and (value is None or value > _ts(before)):
        return False
    return True


def install() -> None:
    """Add the jobs, recovery points and restore jobs to moto's Backup service (idempotent per process)."""
    from moto.backup import urls
    from moto.backup.responses import BackupResponse
    from moto.moto_api._internal import urls as api_urls

    register_settings()
    e = _errors()
    dispatch = BackupResponse.dispatch
    urls.url_paths.update({
        "{0}/backup-jobs/?$": dispatch,
        "{0}/backup-jobs/(?P<job>[^/]+)$": dispatch,
        "{0}/restore-jobs/?$": dispatch,
        "{0}/restore-jobs/(?P<job>[^/]+)$": dispatch,
        # A rule with a trailing slash after a variable part only matches with that slash written out.
        "{0}/resources/(?P<arn>.+)/recovery-points$": dispatch,
        "{0}/resources/(?P<arn>.+)/recovery-points/$": dispatch,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points$": dispatch,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$": dispatch,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)$": dispatch,
    })
    api_urls.url_paths["{0}" + RUN_PATH + "$"] = handle_run

    def _lab(self: BackupResponse) -> LabBackup:
        expire(self.backup_backend)
        return lab_state(self.backup_backend)

    def _job(self: BackupResponse) -> Job:
        job_id = unquote(_path_after(self, "/backup-jobs/").strip("/"))
        job = _lab(self).jobs.get(job_id)
        if job is None:
            raise e.ResourceNotFoundException(msg=f"Backup job {job_id} not found")
        return job

    def _vault_point(self: BackupResponse) -> tuple[Any, Point]:
        rest = _path_after(self, "/backup-vaults/")
        vault_name, _, arn = rest.partition("/recovery-points/")
        vault_name, arn = unquote(vault_name), unquote(arn.split("/restore-metadata")[0].strip("/"))
        vault = self.backup_backend.vaults.get(vault_name)
        if vault is None:
            raise e.ResourceNotFoundException(msg=f"Backup vault {vault_name} not found")
        point = _lab(self).points.get(arn)
        if point is None or point.job.vault_name != vault_name:
            raise e.ResourceNotFoundException(msg=f"Recovery point {arn} not found in backup vault {vault_name}")
        return vault, point

    def start_backup_job(self: BackupResponse) -> str:
        params = json.loads(self.body or "{}")
        for name in ("BackupVaultName", "ResourceArn", "IamRoleArn"):
            if not params.get(name):
                raise e.MissingParameterValueException(f"{name} is required")
        job = start_job(self.backup_backend, params["BackupVaultName"], params["ResourceArn"], params["IamRoleArn"],
                        params.get("Lifecycle"), params.get("RecoveryPointTags"), None, params.get("StartWindowMinutes"),
                        params.get("IdempotencyToken"))
        return json.dumps({"BackupJobId": job.id, "RecoveryPointArn": job.point_arn, "CreationDate": job.created, "IsParent": False})

    def describe_backup_job(self: BackupResponse) -> str:
        with _lab(self).lock:
            return json.dumps(shaped("DescribeBackupJobOutput", _job(self).describe()))

    def stop_backup_job(self: BackupResponse) -> str:
        job = _job(self)
        with _lab(self).lock:
            if job.state not in RUNNING_STATES:
                raise e.InvalidRequestException(msg=f"Backup job {job.id} is {job.state} and cannot be stopped")
            job.stop, job.state = True, "ABORTING"
        return "{}"

    def list_backup_jobs(self: BackupResponse) -> str:
        q = _q(self)
        lab = _lab(self)
        with lab.lock:
            jobs = sorted(lab.jobs.values(), key=lambda j: j.created, reverse=True)
            rows = []
            for j in jobs:
                d = j.describe()
                category = _one(q, "messageCategory")
                if ((_one(q, "resourceArn") not in (None, j.resource.arn)) or (_one(q, "state") not in (None, j.state))
                        or (_one(q, "backupVaultName") not in (None, j.vault_name))
                        or (_one(q, "resourceType") not in (None, j.resource.type))
                        or (_one(q, "accountId") not in (None, j.account))
                        or _one(q, "parentJobId") is not None
                        or (category not in (None, "AGGREGATE_ALL") and category != j.message_category)
                        or not _in_window(j.created, _one(q, "createdAfter"), _one(q, "createdBefore"))
                        or ((_one(q, "completeAfter") or _one(q, "completeBefore"))
                            and not _in_window(j.completed, _one(q, "completeAfter"), _one(q, "completeBefore")))):
                    continue
                rows.append(shaped("BackupJob", d))
        return page(rows, q, "BackupJobs")

    def list_recovery_points_by_resource(self: BackupResponse) -> str:
        arn = unquote(_path_after(self, "/resources/").rsplit("/recovery-points", 1)[0])
        q = _q(self)
        lab = _lab(self)
        with lab.lock:
            points = sorted((p for p in lab.points.values() if p.resource.arn == arn), key=lambda p: p.created, reverse=True)
            rows = [shaped("RecoveryPointByResource", p.describe()) for p in points]
        return page(rows, q, "RecoveryPoints")

    def list_recovery_points_by_backup_vault(self: BackupResponse) -> str:
        vault_name = unquote(_path_after(self, "/backup-vaults/").split("/recovery-points", 1)[0])
        if vault_name not in self.backup_backend.vaults:
            raise e.ResourceNotFoundException(msg=f"Backup vault {vault_name} not found")
        q = _q(self)
        lab = _lab(self)
        with lab.lock:
            points = sorted((p for p in lab.points.values() if p.job.vault_name == vault_name), key=lambda p: p.created, reverse=True)
            rows = [shaped("RecoveryPointByBackupVault", p.describe()) for p in points
                    if _one(q, "resourceArn") in (None, p.resource.arn) and _one(q, "resourceType") in (None, p.resource.type)
                    and _one(q, "backupPlanId") in (None, (p.job.created_by or {}).get("BackupPlanId"))
                    and _one(q, "parentRecoveryPointArn") is None
                    and _in_window(p.created, _one(q, "createdAfter"), _one(q, "createdBefore"))]
        return page(rows, q, "RecoveryPoints")

    def describe_recovery_point(self: BackupResponse) -> str:
        _, point = _vault_point(self)
        return json.dumps(shaped("DescribeRecoveryPointOutput", point.describe()))

    def get_recovery_point_restore_metadata(self: BackupResponse) -> str:
        vault, point = _vault_point(self)
        return json.dumps({"BackupVaultArn": vault.backup_vault_arn, "RecoveryPointArn": point.arn,
                           "ResourceType": point.resource.type, "RestoreMetadata": restore_metadata(point)})

    def delete_recovery_point(self: BackupResponse) -> str:
        _, point = _vault_point(self)
        lab = _lab(self)
        with lab.lock:
            if point.status == "CREATING":
                raise e.InvalidResourceStateException(f"Recovery point {point.arn} is being created and cannot be deleted yet")
            point.status = "DELETING"

        def remove() -> None:
            time.sleep(0.5)
            with lab.lock:
                lab.points.pop(point.arn, None)
            _drop_data(point)

        threading.Thread(target=remove, daemon=True).start()
        return "{}"

    def start_restore_job(self: BackupResponse) -> str:
        params = json.loads(self.body or "{}")
        if not params.get("RecoveryPointArn"):
            raise e.MissingParameterValueException("RecoveryPointArn is required")
        if not isinstance(params.get("Metadata"), dict):
            raise e.MissingParameterValueException("Metadata is required")
        restore = start_restore(self.backup_backend, params["RecoveryPointArn"], params["Metadata"], params.get("IamRoleArn"),
                                params.get("ResourceType"))
        return json.dumps({"RestoreJobId": restore.id})

    def describe_restore_job(self: BackupResponse) -> str:
        job_id = unquote(_path_after(self, "/restore-jobs/").strip("/"))
        lab = _lab(self)
        with lab.lock:
            restore = lab.restores.get(job_id)
            if restore is None:
                raise e.ResourceNotFoundException(msg=f"Restore job {job_id} not found")
            return json.dumps(shaped("DescribeRestoreJobOutput", restore.describe()))

    def list_restore_jobs(self: BackupResponse) -> str:
        q = _q(self)
        lab = _lab(self)
        with lab.lock:
            restores = sorted(lab.restores.values(), key=lambda r: r.created, reverse=True)
            rows = [shaped("RestoreJobsListMember", r.describe()) for r in restores
                    if _one(q, "accountId") in (None, r.account) and _one(q, "resourceType") in (None, r.point.resource.type)
                    and _one(q, "status") in (None, r.status) and _one(q, "restoreTestingPlanArn") is None
                    and _in_window(r.created, _one(q, "createdAfter"), _one(q, "createdBefore"))
                    and (not (_one(q, "completeAfter") or _one(q, "completeBefore"))
                         or _in_window(r.completed, _one(q, "completeAfter"), _one(q, "completeBefore")))]
        return page(rows, q, "RestoreJobs")

    def as_json(fn: Any) -> Any:
        def answer(self: BackupResponse) -> tuple[str, dict[str, str]]:
            return fn(self), {"Content-Type": "application/json"}

        answer.__name__ = fn.__name__
        return answer

    for fn in (start_backup_job, describe_backup_job, stop_backup_job, list_backup_jobs, list_recovery_points_by_resource,
               list_recovery_points_by_backup_vault, describe_recovery_point, get_recovery_point_restore_metadata,
               delete_recovery_point, start_restore_job, describe_restore_job, list_restore_jobs):
        setattr(BackupResponse, fn.__name__, as_json(fn))
