"""The lab's certificate authority and the server certificates of its Aurora clusters: clients verify the
lab's servers against the CA (sslmode=verify-full), as they verify Aurora's against the RDS CA bundle."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ops.lab.pg import pgbin

_tls_lock = threading.RLock()  # clusters made at once must not each write a CA of their own


def _lab_ca(dir_: Path) -> tuple[Path, Path]:
    """The lab's certificate authority: clients verify the lab's servers against it (sslmode=verify-full),
    as they verify Aurora's against the RDS CA bundle. Called under _tls_lock."""
    cert, key = dir_ / "ca.crt", dir_ / "ca.key"
    if cert.exists() and key.exists():
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pgbin.make_dir(dir_, 0o755)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dbops lab CA")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(private, hashes.SHA256()))
    _write_pair(certificate, private, cert, key)
    return cert, key


def for_network(dir_: Path, net: str) -> tuple[Path, Path]:
    """A server certificate, signed by the lab's CA, for every address of one claimed network 127.a.b.*
    (the endpoints, the instances): a client that checks the host name against it (verify-full) passes."""
    with _tls_lock:
        return _server_cert(dir_, net)


def _server_cert(dir_: Path, net: str) -> tuple[Path, Path]:
    cert, key = dir_ / f"{net}.crt", dir_ / f"{net}.key"
    if cert.exists() and key.exists():
        return cert, key
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert_path, ca_key_path = _lab_ca(dir_)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    private = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    addresses = [x509.IPAddress(ipaddress.ip_address(f"{net}.{i}")) for i in range(256)]
    certificate = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{net}.0/24")]))
                   .issuer_name(ca_cert.subject).public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.SubjectAlternativeName(addresses), critical=False)
                   .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    _write_pair(certificate, private, cert, key)
    return cert, key


def _write_pair(certificate: Any, private: Any, cert: Path, key: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    pgbin.own(cert)
    pgbin.own(key)
    key.chmod(0o600)
