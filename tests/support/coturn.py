"""A real coturn on 127.0.0.1, configured from the repository's turnserver.conf template."""

from __future__ import annotations

import datetime
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra.relay_config import TurnSettings, render_turnserver_conf
from tests.support.tools import free_port, require, stop_process, tcp_open, wait_for


def self_signed(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class CoturnServer:
    """coturn with our template, loopback addresses and test ports substituted."""

    directory: Path
    secret: str
    host: str = "127.0.0.1"
    port: int = field(default_factory=lambda: free_port(also_udp=True))
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / "turnserver.conf"

    def write_config(self) -> None:
        cert, key = self_signed(self.directory)
        low = random.randrange(20000, 60000, 200)
        conf = render_turnserver_conf(
            TurnSettings(
                realm="test.cbsi-connect.org",
                server_name="turn-test",
                static_auth_secret=self.secret,
                listening_ip=self.host,
                external_ip=None,
                min_port=low,
                max_port=low + 199,
                cert_file=str(cert),
                pkey_file=str(key),
                pidfile=str(self.directory / "turnserver.pid"),
                listening_port=self.port,
                tls_listening_port=free_port(),
                log_to_stdout=True,
            )
        )
        self.config_file.write_text(conf)

    def start(self) -> CoturnServer:
        binary = require("turnserver", "coturn")
        if not self.config_file.exists():
            self.write_config()
        log = (self.directory / "turnserver.log").open("ab")
        self.process = subprocess.Popen(
            # Its own user database file, so a test never touches /var/lib/turn.
            [binary, "-c", str(self.config_file), "--db", str(self.directory / "turndb")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: tcp_open(self.port, self.host), 10, "coturn")
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def log(self) -> str:
        path = self.directory / "turnserver.log"
        return path.read_text(errors="replace") if path.exists() else ""
