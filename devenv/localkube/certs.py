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
_SERVICE_IP = "10.0.0.1"  # the `kubernetes` Service: the first address of cluster.SERVICE_CIDR


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


_LEAF_USAGE = x509.KeyUsage(
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


def _leaf(
    subject: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    usage: x509.ObjectIdentifier,
    cert_path: Path,
    key_path: Path,
    *,
    san: x509.SubjectAlternativeName | None = None,
) -> None:
    """Write a fresh key and a certificate for it, signed by ``ca``, for one extended key usage."""
    key = _key()
    builder = (
        _builder(subject, ca.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_LEAF_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = builder.add_extension(aki, critical=False).sign(ca_key, hashes.SHA256())
    _write_key(key, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate(pki_dir: Path, *, extra_ips: tuple[str, ...] = ()) -> Pki:
    """Write a fresh CA, serving cert, admin client cert and service-account key pair into ``pki_dir``.
    ``extra_ips``: more addresses the API server answers on (a real node's address, for pods)."""
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

    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    ips = [ipaddress.ip_address(a) for a in ("127.0.0.1", _SERVICE_IP, *extra_ips)]
    san = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips])
    server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    _leaf(_name("kube-apiserver"), ca_key, ca, server_auth, pki.server_cert, pki.server_key, san=san)
    admin = _name("localkube-admin", "system:masters")
    _leaf(admin, ca_key, ca, client_auth, pki.admin_cert, pki.admin_key)

    # Request-header ("front proxy") authentication, as kubeadm sets it up: the controller-manager and scheduler
    # look it up for delegated authentication, and aggregated API servers (e.g. metrics-server) rely on it.
    fp_ca_key, fp_ca = _ca("localkube-front-proxy-ca")
    pki.front_proxy_ca.write_bytes(fp_ca.public_bytes(serialization.Encoding.PEM))
    fp_client = _name("front-proxy-client")
    _leaf(fp_client, fp_ca_key, fp_ca, client_auth, pki.front_proxy_client_cert, pki.front_proxy_client_key)

    sa_key = _key()
    _write_key(sa_key, pki.sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki


@dataclass(frozen=True)
class NodePki:
    """Certificates of a real node, all signed by the cluster CA, so that the kubelet and the API server
    authenticate each other (no anonymous access, no skipped verification)."""

    kubelet_serving_cert: Path
    kubelet_serving_key: Path
    kubelet_client_cert: Path  # the kubelet towards the API server: system:node:<name> in system:nodes
    kubelet_client_key: Path
    apiserver_kubelet_client_cert: Path  # the API server towards kubelets (logs, exec)
    apiserver_kubelet_client_key: Path
    kube_proxy_cert: Path  # system:kube-proxy, bound to system:node-proxier by the default RBAC
    kube_proxy_key: Path
    metrics_server_cert: Path  # serving cert of the aggregated metrics API, on the node address
    metrics_server_key: Path


def _load_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())


def client_certificate(pki: Pki, user: str, cert_path: Path, key_path: Path) -> None:
    """A client certificate of the cluster CA for ``user`` in no group: its rights are only what RBAC binds to it."""
    ca_key, ca = _load_ca(pki)
    _leaf(_name(user), ca_key, ca, ExtendedKeyUsageOID.CLIENT_AUTH, cert_path, key_path)


def generate_node(pki: Pki, node_name: str, node_ip: str) -> NodePki:
    """Write the certificates of node ``node_name`` at ``node_ip`` beside the cluster's."""
    d = pki.dir
    node = NodePki(
        kubelet_serving_cert=d / "kubelet.crt",
        kubelet_serving_key=d / "kubelet.key",
        kubelet_client_cert=d / "kubelet-client.crt",
        kubelet_client_key=d / "kubelet-client.key",
        apiserver_kubelet_client_cert=d / "apiserver-kubelet-client.crt",
        apiserver_kubelet_client_key=d / "apiserver-kubelet-client.key",
        kube_proxy_cert=d / "kube-proxy.crt",
        kube_proxy_key=d / "kube-proxy.key",
        metrics_server_cert=d / "metrics-server.crt",
        metrics_server_key=d / "metrics-server.key",
    )
    ca_key, ca = _load_ca(pki)
    server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    ip = ipaddress.ip_address(node_ip)
    node_san = x509.SubjectAlternativeName([x509.DNSName(node_name), x509.IPAddress(ip)])
    _leaf(
        _name(f"system:node:{node_name}", "system:nodes"),
        ca_key,
        ca,
        server_auth,
        node.kubelet_serving_cert,
        node.kubelet_serving_key,
        san=node_san,
    )
    _leaf(
        _name(f"system:node:{node_name}", "system:nodes"),
        ca_key,
        ca,
        client_auth,
        node.kubelet_client_cert,
        node.kubelet_client_key,
    )
    _leaf(
        _name("kube-apiserver-kubelet-client", "system:masters"),
        ca_key,
        ca,
        client_auth,
        node.apiserver_kubelet_client_cert,
        node.apiserver_kubelet_client_key,
    )
    _leaf(_name("system:kube-proxy"), ca_key, ca, client_auth, node.kube_proxy_cert, node.kube_proxy_key)
    ms_san = x509.SubjectAlternativeName([x509.DNSName("metrics-server.kube-system.svc"), x509.IPAddress(ip)])
    _leaf(
        _name("metrics-server"), ca_key, ca, server_auth, node.metrics_server_cert, node.metrics_server_key, san=ms_san
    )
    return node
