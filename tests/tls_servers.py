"""TLS servers on 127.0.0.1 for the tests: a throwaway CA and certificates (``cryptography``, a test-only
dependency), an https server that counts the connections it accepts, and a plain-HTTP server for an https URL.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


# -- a throwaway PKI -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (PEM): what CXONE_CA_BUNDLE would name
    ca_der: Path  # the same certificate in DER: not a PEM bundle
    good: tuple[Path, Path]  # (certificate, key) for 127.0.0.1, signed by the CA
    other_name: tuple[Path, Path]  # signed by the CA, for another host name only
    expired: tuple[Path, Path]  # for 127.0.0.1, signed by the CA, expired yesterday


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def make_pki(root: Path) -> Pki:
    """A CA and three server certificates signed by it, as PEM files under ``root``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("cxone-tune test CA"))
        .issuer_name(_name("cxone-tune test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (root / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (root / "ca.der").write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))

    def leaf(stem: str, names: list[x509.GeneralName], days: tuple[int, int]) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(stem))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path = root / f"{stem}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, _write_key(root / f"{stem}.key", key)

    loopback: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
    return Pki(
        ca=root / "ca.pem",
        ca_der=root / "ca.der",
        good=leaf("good", loopback, (-1, 30)),
        other_name=leaf("other", [x509.DNSName("api.other.example")], (-1, 30)),
        expired=leaf("expired", loopback, (-30, -1)),
    )


# -- servers ---------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Any GET: 200 with a small JSON object."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TlsServer(ThreadingHTTPServer):
    """An https server on 127.0.0.1 with the given certificate; ``connections`` counts accepted TCP connections."""

    daemon_threads = True

    def __init__(self, cert: tuple[Path, Path]) -> None:
        super().__init__((HOST, 0), _Handler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert)
        self.connections = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        self.connections += 1
        # The handshake runs in the handler's thread, so a client that refuses it cannot stall the loop.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a handshake the client refused: expected here

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.server_address[1]}"


class PlainServer:
    """A plain-HTTP server (what sits on the port when the URL says https by mistake): whatever arrives, it
    answers ``400 Bad Request`` in clear text, as web servers do to bytes that are not HTTP."""

    def __init__(self) -> None:
        self._sock = socket.create_server((HOST, 0))
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._sock.close()


@contextlib.contextmanager
def serving(server: TlsServer) -> Iterator[TlsServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
