"""Transport TLS for a local cluster: a private CA per cluster and a certificate per node.

Why: with security on, Elasticsearch requires TLS on the transport layer of a multi-node cluster
(the bootstrap check "Transport SSL must be enabled if security is enabled"). Bound to loopback
the node runs in development mode and only warns, but without TLS any local process that speaks
the transport protocol could join the cluster and read every index. With it, only a node holding
a certificate from this cluster's CA joins: the CA's key never leaves the cluster's folder (0600,
the command's user), and each node gets a fresh key and certificate every time it starts.

Made with ``cryptography`` rather than the distribution's ``elasticsearch-certutil``: no JVM to
start, and nothing to unzip.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipeline.statefiles import private_dir, write_private

KEY_BITS = 2048
CA_VALIDITY = datetime.timedelta(days=3650)  # the cluster's lifetime; a new CA means new certificates, nothing more
# A node's certificate is re-issued at each start of that node, so a year is plenty.
NODE_VALIDITY = datetime.timedelta(days=365)
CA_CERT, CA_KEY = "ca.crt", "ca.key"
NODE_CERT, NODE_KEY = "node.crt", "node.key"


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def ensure_authority(folder: Path) -> Authority:
    """The cluster's CA from ``folder``, made there (key 0600) when missing."""
    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA key: delete {folder} to make a new CA")
        return Authority(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Chancery local cluster CA")])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    private_dir(folder)
    write_private(key_path, _key_pem(key))
    write_private(cert_path, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    return Authority(certificate, key)


def issue_node_certificate(authority: Authority, node_name: str, folder: Path) -> None:
    """A new key and a certificate for ``node_name`` on 127.0.0.1, and the CA's certificate, into ``folder``.

    All three files are 0600; the caller hands them to the node's user. The certificate names
    127.0.0.1 and localhost, so nodes verify each other fully (certificate and address).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    now = _now()
    ca_key_id = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_name)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + NODE_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        # Transport connections are mutual: every node is both the server and the client.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    private_dir(folder)
    write_private(folder / NODE_KEY, _key_pem(key))
    write_private(folder / NODE_CERT, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    write_private(folder / CA_CERT, authority.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))


def transport_tls_settings(certs_in_config: str) -> dict[str, str]:
    """The node settings for transport TLS; paths relative to the node's config folder."""
    return {
        "xpack.security.transport.ssl.enabled": "true",
        "xpack.security.transport.ssl.verification_mode": "full",
        "xpack.security.transport.ssl.key": f"{certs_in_config}/{NODE_KEY}",
        "xpack.security.transport.ssl.certificate": f"{certs_in_config}/{NODE_CERT}",
        "xpack.security.transport.ssl.certificate_authorities": f"{certs_in_config}/{CA_CERT}",
    }


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
