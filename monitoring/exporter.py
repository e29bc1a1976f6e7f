"""The exporter's core: sources refreshed in the background, scrapes served from the last results.

A *source* (AWS, Moodle, TURN) builds fresh metric families when asked; it may be slow or fail.
`SourceCollector` runs each source on its own interval in a thread and keeps its last good
results, so a scrape never waits on AWS or a database and a failing source never takes the
exporter down. For each source it exports whether the last refresh succeeded, how long it took
and when it last succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("cbsi.exporter")


class Source(Protocol):
    """Something that measures: called from a background thread, may raise."""

    name: str
    interval: float

    def collect(self) -> list[Metric]: ...


@dataclass
class _State:
    families: list[Metric] = field(default_factory=list)
    success: bool = False
    duration: float = 0.0
    last_success: float = 0.0


class SourceCollector(Collector):
    """Serves every source's last results plus `cbsi_exporter_collector_*` about each source."""

    def __init__(self, sources: Sequence[Source], clock: Callable[[], float] = time.time) -> None:
        self.sources = list(sources)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = {s.name: _State() for s in self.sources}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def refresh(self, source: Source) -> bool:
        """Run one source once; keep its results if it succeeds, its old ones if it fails."""
        started = time.perf_counter()
        try:
            families = source.collect()
        except Exception:  # a failing source must never take the exporter down
            log.exception("source %s failed", source.name)
            families = None
        duration = time.perf_counter() - started
        with self._lock:
            state = self._state[source.name]
            state.duration = duration
            state.success = families is not None
            if families is not None:
                state.families = families
                state.last_success = self._clock()
        return families is not None

    def start(self) -> None:
        """Refresh every source now, then keep refreshing each on its interval."""
        for source in self.sources:
            thread = threading.Thread(
                target=self._loop, args=(source,), name=f"source-{source.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self, source: Source) -> None:
        while not self._stop.is_set():
            self.refresh(source)
            self._stop.wait(source.interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            states = {name: (list(s.families), s.success, s.duration, s.last_success)
                      for name, s in self._state.items()}  # fmt: skip
        success = GaugeMetricFamily(
            "cbsi_exporter_collector_success",
            "Whether the last refresh of a collector succeeded (1) or failed (0).",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "cbsi_exporter_collector_duration_seconds",
            "How long the last refresh of a collector took.",
            labels=["collector"],
        )
        last = GaugeMetricFamily(
            "cbsi_exporter_collector_last_success_timestamp_seconds",
            "When a collector last refreshed successfully (0: never).",
            labels=["collector"],
        )
        for name, (families, ok, took, at) in sorted(states.items()):
            yield from families
            success.add_metric([name], 1.0 if ok else 0.0)
            duration.add_metric([name], took)
            last.add_metric([name], at)
        yield success
        yield duration
        yield last
