"""Real servers for tests: find their binaries (fail under CI, skip elsewhere), free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def require(tool: str, package: str) -> str:
    """The path of `tool`. Under CI a missing tool fails the test: `.ci/run` installs it."""
    sbin = Path("/usr/sbin") / tool
    path = shutil.which(tool) or (str(sbin) if sbin.exists() else None)
    if path:
        return path
    message = f"{tool} is missing; install the Debian package {package} (make deps)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port(kind: int = socket.SOCK_STREAM, also_udp: bool = False) -> int:
    """A port free on 127.0.0.1 (for TCP, and for UDP too when asked)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not also_udp:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on 127.0.0.1 after 50 tries")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it is true, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def stop_process(process: subprocess.Popen[bytes] | None, grace: float = 10) -> None:
    """Terminate a server we started; kill it if it has not gone within `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def shared_file(relative: str) -> Path:
    """A file of the shared reference data (`../shared/` beside the checkout, as CI lays it out,
    or $CBSI_SHARED_DIR)."""
    base = Path(os.environ.get("CBSI_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
    path = base / relative
    if path.is_file():
        return path
    message = f"{path} is missing: the shared reference data must sit beside the checkout"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
