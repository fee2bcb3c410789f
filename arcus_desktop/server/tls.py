"""TLS for the server: a context from a folder with cert.pem and key.pem, and a
self-signed certificate for teams without their own."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import re
import socket
import ssl
from pathlib import Path

from ..core.certs import fingerprint
from ..core.errors import ArcusError

VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def context(folder: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    except (OSError, ssl.SSLError) as e:
        raise ArcusError(f"The certificate in {folder} cannot be used ({e}).",
                         "Check that cert.pem and key.pem belong together, or make new ones "
                         "with `arcus-desktop serve --make-cert DIR`.") from e
    return ctx


def make_cert(folder: Path, names: list[str] | None = None) -> str:
    """Write a self-signed cert.pem and key.pem (mode 600) into `folder` for this host's
    name, localhost and `names` (host names or IP addresses). Returns the certificate's
    SHA-256 fingerprint, for clients to check."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as e:
        raise ArcusError("Making a certificate needs the `cryptography` package.",
                         "Install it (pip install cryptography), or use openssl.") from e
    folder.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    dns, ips = [], [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for name in [host, "localhost", *(names or [])]:
        try:
            ip = ipaddress.ip_address(name)
            if ip not in ips:
                ips.append(ip)
        except ValueError:
            if name not in dns:
                dns.append(name)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Arcus team server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip) for ip in ips]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_path = folder / "key.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode above applies only to a new file
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


def fingerprint_of(folder: Path) -> str:
    """The SHA-256 fingerprint of the certificate the server presents (the first one in
    cert.pem; a chain follows it); "" when there is none to read."""
    try:
        found = _PEM.search((folder / "cert.pem").read_bytes())
        return fingerprint(base64.b64decode(found[1])) if found else ""
    except (OSError, ValueError):
        return ""
