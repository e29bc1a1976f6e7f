"""Probe each TURN relay as a client would: a STUN binding, then a TURN Allocate with
time-limited REST credentials derived from the shared secret (Debian's coturn has no metrics
endpoint, so relays are probed)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aioice import stun, turn
from prometheus_client.core import GaugeMetricFamily, Metric

from infra.relay_config import rest_credentials


@dataclass(frozen=True)
class Relay:
    name: str
    host: str
    port: int = 3478


class TurnSource:
    """`cbsi_turn_stun_success`, `cbsi_turn_allocation_success` and the allocation round trip."""

    name = "turn"

    def __init__(
        self,
        relays: Sequence[Relay],
        secret: Callable[[], str],
        interval: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.relays = list(relays)
        self._secret = secret  # fetched per refresh, so a rotated secret is picked up
        self.interval = interval
        self.timeout = timeout

    def collect(self) -> list[Metric]:
        stun_ok = GaugeMetricFamily(
            "cbsi_turn_stun_success",
            "Whether a STUN binding to the relay succeeded.",
            labels=["relay"],
        )
        allocated = GaugeMetricFamily(
            "cbsi_turn_allocation_success",
            "Whether a TURN allocation with REST credentials succeeded.",
            labels=["relay"],
        )
        rtt = GaugeMetricFamily(
            "cbsi_turn_allocation_duration_seconds",
            "How long the last successful allocation took (round trips included).",
            labels=["relay"],
        )
        secret = self._secret()
        results = asyncio.run(self._probe_all(secret))
        for relay, (binding, allocation) in zip(self.relays, results, strict=True):
            stun_ok.add_metric([relay.name], 1.0 if binding else 0.0)
            allocated.add_metric([relay.name], 1.0 if allocation is not None else 0.0)
            if allocation is not None:
                rtt.add_metric([relay.name], allocation)
        return [stun_ok, allocated, rtt]

    async def _probe_all(self, secret: str) -> list[tuple[bool, float | None]]:
        return await asyncio.gather(*(self._probe(r, secret) for r in self.relays))

    async def _probe(self, relay: Relay, secret: str) -> tuple[bool, float | None]:
        binding = await asyncio.to_thread(stun_binding, relay.host, relay.port, self.timeout)
        return binding, await turn_allocation(relay.host, relay.port, secret, self.timeout)


async def turn_allocation(host: str, port: int, secret: str, timeout: float) -> float | None:
    """Seconds a TURN Allocate with time-limited REST credentials took, or None if it failed."""
    user, password = rest_credentials(secret, "cbsi-probe", int(time.time()) + 300)
    started = time.perf_counter()
    try:
        transport, _ = await asyncio.wait_for(
            turn.create_turn_endpoint(
                asyncio.DatagramProtocol, (host, port), user, password, lifetime=60
            ),
            timeout,
        )
    except (OSError, TimeoutError, stun.TransactionError, ConnectionError):
        return None
    took = time.perf_counter() - started
    transport.close()  # releases the allocation (Refresh with lifetime 0)
    return took


def stun_binding(host: str, port: int, timeout: float) -> bool:
    """A plain RFC 5389 Binding request over UDP; True when a success response comes back."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(bytes(request), (host, port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    try:
        response = stun.parse_message(data)
    except ValueError:
        return False
    return (
        response.transaction_id == request.transaction_id
        and response.message_class == stun.Class.RESPONSE
    )
