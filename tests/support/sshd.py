"""A real OpenSSH server for tests: temporary host key, key-only login, loopback addresses.

One sshd listens on up to 16 addresses (its limit); more hosts take more servers. Each test
builds its own and stops it.
"""

from __future__ import annotations

import getpass
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.tools import free_port, require, stop_process, tcp_open, wait_for

MAX_LISTEN = 16


def keypair(path: Path) -> Path:
    """An ed25519 key without passphrase; the private key's path."""
    keygen = require("ssh-keygen", "openssh-client")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class Sshd:
    directory: Path
    addresses: list[str]
    port: int = field(default_factory=free_port)
    client_key: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return getpass.getuser()

    def start(self) -> Sshd:
        if len(self.addresses) > MAX_LISTEN:
            raise ValueError(f"one sshd listens on at most {MAX_LISTEN} addresses")
        binary = require("sshd", "openssh-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        host_key = keypair(self.directory / "host_key")
        self.client_key = self.client_key or keypair(self.directory / "client_key")
        authorized = self.directory / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        listen = "".join(f"ListenAddress {a}\n" for a in self.addresses)
        config = self.directory / "sshd_config"
        config.write_text(
            f"Port {self.port}\n{listen}HostKey {host_key}\nPidFile {self.directory}/sshd.pid\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
            "MaxStartups 200:30:400\nMaxSessions 200\nLogLevel ERROR\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        log = (self.directory / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: all(tcp_open(self.port, a) for a in self.addresses), 10, "sshd")
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def testinfra(self, address: str):  # type: ignore[no-untyped-def]
        """A testinfra host for `address`, over SSH with the client key."""
        import testinfra

        return testinfra.get_host(
            f"paramiko://{self.user}@{address}:{self.port}",
            ssh_identity_file=str(self.client_key),
        )
