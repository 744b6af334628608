"""TLS for the engine's Kubernetes API, as EKS serves its cluster endpoint: over HTTPS, signed by the
cluster's own CA, whose PEM ``DescribeCluster`` returns base64-encoded in ``certificateAuthority.data``.

- :func:`cluster_tls` makes the CA once (kept in ``<state_dir>/tls/``: ``ca.crt``, ``ca.key``, so a
  restarted engine keeps the kubeconfig users wrote) and issues a server certificate for loopback
  (``127.0.0.1``, ``::1``, ``localhost``) and the names the engine is reached by, at each start.
- :func:`start_tls_relay` serves HTTPS on the Kubernetes port, in the event loop that serves the engine:
  each TLS connection is relayed, byte for byte, to the engine's plain HTTP port, so that every request
  goes through the same app (browser guard, SigV4 / EKS token verification) as a plain one.
  :class:`KubernetesTLSPort` starts it from the ASGI lifespan (once the engine has started) and closes it
  at shutdown, so any ASGI server that runs the lifespan (``uvicorn.run``) serves both ports.

Why TLS matters to clients: client-go (kubectl) sends no credentials, and does not run the
``aws eks get-token`` exec plugin, to a plain ``http://`` server.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ClusterTLS", "TLSRelay", "KubernetesTLSPort", "cluster_tls", "start_tls_relay"]

_CA_YEARS = 10
_SERVER_DAYS = 365
_CHUNK = 65536


@dataclass(frozen=True)
class ClusterTLS:
    """The cluster CA and the server certificate the Kubernetes port presents."""

    directory: Path
    ca_pem: bytes
    port: int

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def certificate_authority_data(self) -> str:
        """``DescribeCluster.cluster.certificateAuthority.data``: the CA's PEM, base64."""
        return base64.b64encode(self.ca_pem).decode()

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(self.directory / "server.crt", self.directory / "server.key")
        return context


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _load_or_make_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > _now() + datetime.timedelta(days=_SERVER_DAYS):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _subject_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["127.0.0.1", "::1", "localhost", "kubernetes", *hosts]):
        if not host or host in ("0.0.0.0", "::"):
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def cluster_tls(directory: str | Path, port: int, hosts: Iterable[str] = ()) -> ClusterTLS:
    """The CA in ``directory`` (made on first use) and a fresh server certificate for loopback and ``hosts``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_cert, ca_key = _load_or_make_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_subject_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(directory / "server.key", _pem_key(key))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ClusterTLS(directory, ca_cert.public_bytes(serialization.Encoding.PEM), port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (OSError, RuntimeError):
            pass


class TLSRelay:
    """An HTTPS listener relaying to the plain port; :meth:`close` ends it and every open connection."""

    def __init__(self, tls: ClusterTLS, target_host: str, target_port: int) -> None:
        self.tls, self.target_host, self.target_port = tls, target_host, target_port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.close()
            return
        self._open.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        except asyncio.CancelledError:  # the engine stops with the connection open (a watch, a log follow)
            pass
        finally:
            for writer in (upstream_writer, client_writer):
                self._open.discard(writer)
                writer.close()

    async def start(self, host: str) -> "TLSRelay":
        self._server = await asyncio.start_server(self._relay, host, self.tls.port, ssl=self.tls.server_context())
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._open):
            writer.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        except asyncio.TimeoutError:
            pass
        self._server = None


async def start_tls_relay(tls: ClusterTLS, host: str, target_host: str, target_port: int) -> TLSRelay:
    """Serve HTTPS on ``host:tls.port`` (in the running loop), relaying each connection to the plain port."""
    return await TLSRelay(tls, target_host, target_port).start(host)


class KubernetesTLSPort:
    """ASGI wrapper: the HTTPS relay to ``target_host:target_port`` lives as long as the app's lifespan.

    It stands in for the Starlette app it wraps (``state`` is the app's), innermost in the served stack.
    """

    def __init__(self, app: Any, tls: ClusterTLS, host: str, target_port: int) -> None:
        self.app, self.tls, self.host, self.target_port = app, tls, host, target_port
        self.target_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        self.relay: TLSRelay | None = None

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def receive_closing_the_relay() -> dict:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.relay is not None:
                await self.relay.close()
                self.relay = None
            return message

        async def send_opening_the_relay(message: dict) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    self.relay = await start_tls_relay(self.tls, self.host, self.target_host, self.target_port)
                except OSError as e:
                    message = {
                        "type": "lifespan.startup.failed",
                        "message": f"cannot serve the Kubernetes API on https://{self.host}:{self.tls.port}: {e.strerror}",
                    }
            await send(message)

        await self.app(scope, receive_closing_the_relay, send_opening_the_relay)
