"""`cbsi run` over real SSH: a local OpenSSH server answers on several 127.x addresses, one
address has nothing listening; effects on the host are checked with testinfra over SSH.

The "relay" is this machine reached over SSH, running a real coturn from our template in a
temporary folder; its restart command is a script that restarts that coturn.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from monitoring.sources.turn import turn_allocation
from tests.conftest import run_cbsi
from tests.ops.conftest import ADDRESSES, audit_records, inventory
from tests.support.coturn import CoturnServer
from tests.support.moto import CREDENTIALS, client, moto_server
from tests.support.sshd import Sshd
from tests.support.tools import wait_for

DEAD = "127.0.0.9"  # nothing listens there
pytestmark = pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key")


def test_fan_out_records_exactly_which_hosts_failed(sshd: Sshd, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    hosts = ",".join(["relay-1", "relay-2", "relay-3", "relay-4", DEAD])
    result = run_cbsi(
        "run", "status", "--role", "relays", "--hosts", hosts, "--timeout", "5",
        "--inventory", str(inventory(tmp_path / "inv.yaml", sshd)), "--audit-log", str(log),
    )  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert "4 of 5 hosts ok" in result.stdout
    (record,) = audit_records(log)
    assert record["task"] == "status" and record["role"] == "relays" and not record["dryRun"]
    assert record["hosts"] == ["relay-1", "relay-2", "relay-3", "relay-4", DEAD]
    outcome = {r["host"]: r["ok"] for r in record["results"]}
    assert outcome == {
        "relay-1": True,
        "relay-2": True,
        "relay-3": True,
        "relay-4": True,
        DEAD: False,
    }
    assert [r["address"] for r in record["results"]][:4] == ADDRESSES
    assert record["ok"] is False and "load average" in record["results"][0]["summary"]
    assert record["user"] and record["time"].endswith("Z")

    # Every host up: exit 0, and the audit log grows by one line.
    ok = run_cbsi(
        "run", "disk", "--role", "relays", "--inventory", str(tmp_path / "inv.yaml"),
        "--audit-log", str(log), "--arg", "threshold=100",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [r["task"] for r in audit_records(log)] == ["status", "disk"]


def test_a_dry_run_changes_nothing_on_the_host(
    sshd: Sshd, relay: CoturnServer, tmp_path: Path
) -> None:
    host = sshd.testinfra(ADDRESSES[0])
    config = host.file(str(relay.config_file))
    before, pid = (
        config.content_string,
        host.file(str(relay.directory / "turnserver.pid")).content_string,
    )
    log = tmp_path / "audit.jsonl"
    inv = inventory(tmp_path / "inv.yaml", sshd, config=str(relay.config_file),
                    restart=str(relay.directory / "restart-coturn"))  # fmt: skip

    result = run_cbsi("run", "restart", "--role", "relays", "--hosts", "relay-1",
                      "--inventory", str(inv), "--audit-log", str(log))  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Dry run: nothing changed" in result.stdout
    assert "would run: " + str(relay.directory / "restart-coturn") in result.stdout
    assert config.content_string == before
    assert host.file(str(relay.directory / "turnserver.pid")).content_string == pid
    assert host.process.get(pid=int(pid)).comm == "turnserver"  # the same coturn still runs
    (record,) = audit_records(log)
    assert record["dryRun"] is True and record["results"][0]["changed"] is False


def test_rotating_the_turn_secret(sshd: Sshd, relay: CoturnServer, tmp_path: Path) -> None:
    """Rotation: the relay first accepts the new secret beside the old (no credential refused
    while Moodle moves over), then Secrets Manager holds the new one; finishing leaves the new
    one alone and the old is refused. No secret appears in any output or audit line."""
    host = sshd.testinfra(ADDRESSES[0])
    pidfile = relay.directory / "turnserver.pid"

    def restarted_since(old_pid: str) -> str:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != old_pid, 10, "pid")
        pid = pidfile.read_text().strip()
        running = host.process.get(pid=int(pid))
        assert running.comm == "turnserver" and str(relay.config_file) in running.args
        return pid

    def allocates(secret: str) -> bool:
        return asyncio.run(turn_allocation("127.0.0.1", relay.port, secret, 3.0)) is not None

    with moto_server() as endpoint:
        secrets = client(endpoint, "secretsmanager")
        arn = secrets.create_secret(Name="cbsi/test/turn-shared-secret",
                                    SecretString=relay.secret)["ARN"]  # fmt: skip
        log = tmp_path / "audit.jsonl"
        inv = inventory(
            tmp_path / "inv.yaml", sshd, config=str(relay.config_file),
            restart=str(relay.directory / "restart-coturn"), turn_host="127.0.0.1",
            turn_port=str(relay.port), turn_secret_arn=arn, region="us-east-1",
        )  # fmt: skip
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]}  # fmt: skip
        args = ("run", "rotate-turn-secret", "--role", "relays", "--hosts", "relay-1",
                "--inventory", str(inv), "--audit-log", str(log))  # fmt: skip
        pid = pidfile.read_text().strip()

        dry = run_cbsi(*args, env=env)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert secrets.get_secret_value(SecretId=arn)["SecretString"] == relay.secret

        rotated = run_cbsi(*args, "--yes", env=env)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        new = secrets.get_secret_value(SecretId=arn)["SecretString"]
        assert new != relay.secret and len(new) >= 32
        config = host.file(str(relay.config_file))
        assert config.contains(f"^static-auth-secret={relay.secret}$")
        assert config.contains(f"^static-auth-secret={new}$")
        pid = restarted_since(pid)
        assert allocates(new) and allocates(relay.secret)  # both, while Moodle moves over

        finished = run_cbsi(*args, "--arg", "finish=true", "--yes", env=env)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert secrets.get_secret_value(SecretId=arn)["SecretString"] == new

    assert host.file(str(relay.config_file)).contains(f"^static-auth-secret={new}$")
    assert not host.file(str(relay.config_file)).contains(relay.secret)
    restarted_since(pid)
    assert allocates(new)
    assert not allocates(relay.secret)

    records = audit_records(log)
    assert [r["dryRun"] for r in records] == [True, False, False]
    assert [r["results"][0]["changed"] for r in records] == [False, True, True]
    assert "finish with --arg finish=true" in records[1]["note"]
    for text in (rotated.stdout, rotated.stderr, finished.stdout, log.read_text()):
        assert new not in text and relay.secret not in text


def test_wrong_arguments_are_refused_with_exit_2(tmp_path: Path) -> None:
    cases = [
        (("run", "reboot-all", "--role", "relays", "--inventory", "x"), "no task 'reboot-all'"),
        (("run", "rotate-turn-secret", "--role", "monitoring", "--inventory", "x"),
         "rotate-turn-secret runs on relays, not --role monitoring"),
        (("run", "status", "--role", "relays", "--inventory", str(tmp_path / "none.yaml")),
         "--inventory " + str(tmp_path / "none.yaml") + ": no such file"),
        (("run", "status", "--role", "relays"), "say where the hosts are"),
        (("run", "restart", "--role", "relays", "--inventory", "x", "--arg", "service=x;rm"),
         "--arg service='x;rm': not a service name"),
        (("run", "disk", "--role", "relays", "--inventory", "x", "--arg", "threshold=abc"),
         "--arg threshold=abc: give a percentage from 1 to 100"),
        (("run", "disk", "--role", "relays", "--inventory", "x", "--arg", "threshold"),
         "--arg threshold: write it as KEY=VALUE"),
    ]  # fmt: skip
    for args, message in cases:
        result = run_cbsi(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("Error: " + message), result.stderr
        assert "Traceback" not in result.stderr
    assert os.environ.get("CBSI_AUDIT_LOG") is None  # no test writes the operator's log


def test_a_rotation_with_a_relay_down_changes_nothing(
    sshd: Sshd, relay: CoturnServer, tmp_path: Path
) -> None:
    """The preflight reads every relay first: one unreachable, and neither Secrets Manager nor
    the reachable relay is touched (a relay left behind would refuse every new credential)."""
    with moto_server() as endpoint:
        secrets = client(endpoint, "secretsmanager")
        arn = secrets.create_secret(Name="cbsi/test/turn", SecretString=relay.secret)["ARN"]
        log = tmp_path / "audit.jsonl"
        inv = inventory(tmp_path / "inv.yaml", sshd, config=str(relay.config_file),
                        restart=str(relay.directory / "restart-coturn"), turn_secret_arn=arn,
                        region="us-east-1")  # fmt: skip
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
        before = relay.config_file.read_text()

        result = run_cbsi(
            "run", "rotate-turn-secret", "--role", "relays", "--hosts", f"relay-1,{DEAD}",
            "--inventory", str(inv), "--audit-log", str(log), "--timeout", "5", "--yes", env=env,
        )  # fmt: skip

        assert result.returncode == 1, result.stdout + result.stderr
        assert "Preflight failed: nothing changed" in result.stdout
        assert secrets.get_secret_value(SecretId=arn)["SecretString"] == relay.secret
    assert relay.config_file.read_text() == before
    (record,) = audit_records(log)
    assert record["note"] == "aborted: preflight failed, nothing changed"
    assert {r["host"]: r["ok"] for r in record["results"]} == {"relay-1": True, DEAD: False}
