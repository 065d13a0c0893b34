"""Aurora drills on the lab, through the same code as on AWS: an RDS-managed master secret, a canary
through the cluster endpoint, POST-HA judged from the cluster's members."""

import json

import pytest

from ops.aws import Aws
from tests.conftest import Cli

CLUSTER = "lab-aurora-fo"


@pytest.fixture(scope="module")
def aurora(lab: Cli) -> Aws:
    cfg = lab.config
    aws = Aws.for_env(cfg, cfg.env("lab"))
    rds = aws.client("rds")
    rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.4",
                          MasterUsername="dbops", ManageMasterUserPassword=True, StorageEncrypted=True)
    for i in range(2):
        rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-{i}", DBClusterIdentifier=CLUSTER,
                               Engine="aurora-postgresql", DBInstanceClass="db.t3.medium", PromotionTier=i)
    return aws


def writer_of(aws: Aws) -> str:
    members = aws.client("rds").describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DBClusterMembers"]
    return next(m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"])


def test_aurora_failover_with_the_rds_managed_secret_is_measured_from_the_client(lab: Cli, aurora: Aws) -> None:
    before = writer_of(aurora)
    result = lab("drill", "failover", f"aurora:{CLUSTER}", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["id"]: c["status"] for c in data["checks"]}
    for cid in ("FO-COMPLETED", "FO-WRITER", "FO-RTO", "FO-LOST-WRITES", "POST-HA"):
        assert checks[cid] == "pass", (cid, data["checks"])
    m = data["measurements"]
    assert m["acked_writes"] > 10 and m["lost_writes"] == 0 and m["client_write_downtime_s"] > 0
    assert writer_of(aurora) != before


def test_failover_to_a_named_reader(lab: Cli, aurora: Aws) -> None:
    reader = next(f"{CLUSTER}-{i}" for i in range(2) if f"{CLUSTER}-{i}" != writer_of(aurora))
    result = lab("drill", "failover", f"aurora:{CLUSTER}", "--to", reader, "--json")
    assert result.exit_code == 0, result.output
    assert {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}["FO-WRITER"] == "pass"
    assert writer_of(aurora) == reader


def test_failover_to_an_unknown_member_stops_before_it_starts(lab: Cli, aurora: Aws) -> None:
    before = writer_of(aurora)
    result = lab("drill", "failover", f"aurora:{CLUSTER}", "--to", "nope", "--json")
    assert result.exit_code == 2
    assert writer_of(aurora) == before


def test_unknown_cluster_is_one_line_exit_2(lab: Cli) -> None:
    result = lab("drill", "failover", "aurora:missing")
    assert result.exit_code == 2
    assert "no Aurora cluster 'missing'" in result.stderr


def test_publish_metrics_puts_the_measurements_to_cloudwatch(lab: Cli) -> None:
    result = lab("drill", "failover", "localpg:lab-pg", "--publish-metrics", "--json")
    assert result.exit_code == 0, result.output
    cfg = lab.config
    cw = Aws.for_env(cfg, cfg.env("lab")).client("cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="dbops")["Metrics"]}
    assert {"DrillRTOSeconds", "LostWrites", "ApiFailoverSeconds"} <= names


def test_post_ha_fails_when_the_old_writer_does_not_come_back_as_a_reader(lab: Cli, aurora: Aws) -> None:
    """Negative control of POST-HA: judged from the cluster's members, never from a sentence."""
    from ops.drills.common import new_drill_id
    from ops.drills.failover import FailoverOptions, run_failover
    from ops.report import Journal
    from ops.targets import parse_target
    from ops.targets.aurora import AuroraTarget

    rds = aurora.client("rds")

    class OldWriterLost(AuroraTarget):
        def failover(self, to, timeout):  # type: ignore[no-untyped-def]
            old = writer_of(aurora)
            super().failover(to, timeout)
            rds.delete_db_instance(DBInstanceIdentifier=old, SkipFinalSnapshot=True)
            self.lost = old

    target = OldWriterLost(parse_target(f"aurora:{CLUSTER}"), aurora)
    try:
        report = run_failover(target, FailoverOptions(heal_timeout_s=3), Journal("failover", f"aurora:{CLUSTER}", "lab", echo=None),
                              new_drill_id("failover"))
        post = {c.id: c for c in report.checks}["POST-HA"]
        assert post.status == "fail" and "not an available reader" in post.detail, post
        assert report.status == "fail"
    finally:
        rds.create_db_instance(DBInstanceIdentifier=target.lost, DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                               DBInstanceClass="db.t3.medium")


def _foreign_ca(path) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the lab's CA")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_the_server_certificate_is_verified_against_the_envs_ca_bundle(lab: Cli, aurora: Aws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The lab's servers are signed by the lab's CA: verified with it (host name included), refused with another."""
    from ops.targets.registry import open_cluster

    target = open_cluster(lab.config, lab.config.env("lab"), f"aurora:{CLUSTER}")
    assert "sslmode=verify-full" in (target.writer_dsn() or "")
    ok = lab("drill", "connections", f"aurora:{CLUSTER}", "--clients", "2", "--time", "1")
    assert ok.exit_code == 0, ok.output
    foreign = tmp_path / "other-ca.pem"
    _foreign_ca(foreign)
    text = lab.config_path.read_text().replace("[envs.lab]\n", f'[envs.lab]\ntls_root_cert = "{foreign}"\n')
    (tmp_path / "dbops.toml").write_text(text)
    other = Cli(tmp_path / "dbops.toml", lab.lab_dir)
    refused = other("drill", "connections", f"aurora:{CLUSTER}", "--clients", "2", "--time", "1")
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert refused.exit_code == 2 and len(lines) == 1 and "certificate verify failed" in lines[0], refused.output
    missing = Cli(tmp_path / "dbops.toml", lab.lab_dir)
    (tmp_path / "dbops.toml").write_text(text.replace(str(foreign), str(tmp_path / "absent.pem")))
    nowhere = missing("drill", "connections", f"aurora:{CLUSTER}", "--clients", "2", "--time", "1")
    assert nowhere.exit_code == 2 and "tls_root_cert" in nowhere.stderr and "is not a file" in nowhere.stderr, nowhere.output
