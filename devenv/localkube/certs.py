"""Certificates and keys for a loopback control plane, made with `cryptography` (ECDSA P-256: instant to generate).

One CA signs the API server's serving certificate and an admin client certificate (O=system:masters); a separate
key pair signs and verifies service-account tokens.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    front_proxy_ca: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    name = _name(cn)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def generate(pki_dir: Path, service_ip: str = "10.0.0.1") -> Pki:
    """Write a fresh CA, serving cert, admin client cert and service-account key pair into ``pki_dir``."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        dir=pki_dir,
        ca_cert=pki_dir / "ca.crt",
        ca_key=pki_dir / "ca.key",
        server_cert=pki_dir / "apiserver.crt",
        server_key=pki_dir / "apiserver.key",
        admin_cert=pki_dir / "admin.crt",
        admin_key=pki_dir / "admin.key",
        sa_key=pki_dir / "sa.key",
        sa_pub=pki_dir / "sa.pub",
        front_proxy_ca=pki_dir / "front-proxy-ca.crt",
        front_proxy_client_cert=pki_dir / "front-proxy-client.crt",
        front_proxy_client_key=pki_dir / "front-proxy-client.key",
    )

    ca_key, ca = _ca("localkube-ca")
    _write_key(ca_key, pki.ca_key)
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ca_name = ca.subject

    leaf_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    server_key = _key()
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    ips = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address(service_ip)]
    san = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips])
    server = (
        _builder(_name("kube-apiserver"), ca_name, server_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(server_key, pki.server_key)
    pki.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))

    admin_key = _key()
    admin = (
        _builder(_name("localkube-admin", "system:masters"), ca_name, admin_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(admin_key, pki.admin_key)
    pki.admin_cert.write_bytes(admin.public_bytes(serialization.Encoding.PEM))

    # Request-header ("front proxy") authentication, as kubeadm sets it up: the controller-manager and scheduler
    # look it up for delegated authentication, and aggregated API servers (e.g. metrics-server) rely on it.
    fp_ca_key, fp_ca = _ca("localkube-front-proxy-ca")
    pki.front_proxy_ca.write_bytes(fp_ca.public_bytes(serialization.Encoding.PEM))
    fp_key = _key()
    fp_client = (
        _builder(_name("front-proxy-client"), fp_ca.subject, fp_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(fp_ca_key.public_key()), critical=False)
        .sign(fp_ca_key, hashes.SHA256())
    )
    _write_key(fp_key, pki.front_proxy_client_key)
    pki.front_proxy_client_cert.write_bytes(fp_client.public_bytes(serialization.Encoding.PEM))

    sa_key = _key()
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki
