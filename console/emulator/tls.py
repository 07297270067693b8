"""The local Azure's TLS: a CA kept in the data dir, constrained to loopback names, and a fresh leaf.

The CA can sign only for `localhost`, 127.0.0.0/8 and ::1 (name constraints, path length 0) and
lives a year, so trusting it never means trusting anything else. The leaf is made at every start,
for the address the server binds, and its key never touches the disk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = dt.timedelta(days=365)
CA_RENEW_BEFORE = dt.timedelta(days=30)
LEAF_LIFETIME = dt.timedelta(days=30)
LOOPBACK_NAMES: list[x509.GeneralName] = [
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
]


def server_context(data_dir: Path, host: str) -> tuple[ssl.SSLContext, Path]:
    """A server context for `host` (plus localhost, 127.0.0.1 and ::1), and the CA file clients trust."""
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_file, ca_key_file = tls_dir / "ca.pem", tls_dir / "ca-key.pem"
    now = dt.datetime.now(dt.UTC)
    loaded = _load_ca(ca_file, ca_key_file, now)
    if loaded is None:
        loaded = _new_ca(now)
        _write_private(ca_key_file, _key_pem(loaded[1]))
        _write_private(ca_file, loaded[0].public_bytes(serialization.Encoding.PEM))
    ca_cert, ca_key = loaded
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(ca_cert, ca_key, leaf_key, host, now)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The ssl module loads keys from files only: a private temporary file, gone at once.
    with tempfile.NamedTemporaryFile(dir=tls_dir, suffix=".pem") as chain:
        os.chmod(chain.name, 0o600)
        chain.write(_key_pem(leaf_key) + leaf.public_bytes(serialization.Encoding.PEM))
        chain.flush()
        context.load_cert_chain(chain.name)
    return context, ca_file


def _load_ca(
    cert_file: Path, key_file: Path, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The kept CA, when it is ours, constrained, and not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        cert.extensions.get_extension_for_class(x509.NameConstraints)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc - now < CA_RENEW_BEFORE:
        return None
    return cert, key


def _new_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opsconsole local Azure"),
            x509.NameAttribute(NameOID.COMMON_NAME, "opsconsole local Azure CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(permitted_subtrees=LOOPBACK_NAMES, excluded_subtrees=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    host: str,
    now: dt.datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if host != "localhost":
        address = x509.IPAddress(ipaddress.ip_address(host))
        if address not in names:
            names.append(address)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opsconsole local Azure")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
