"""Every metric's name, help text and labels, in one place.

Label values are bounded by construction: routes are route templates, never
paths; providers are configured names; reasons and errors are the codes of
``proxy.errors``; statuses are HTTP codes. No label ever carries a filename, an
account secret or a signature. Each process has its own registry, so with
``--workers N`` a scrape sees one worker (run one worker per pod and scale pods,
or sum over pods).

The values are plain numbers that the request path adds to (no lock, no
``labels()`` lookup through prometheus_client: every call there cost a few
microseconds on every request); one collector reads them at scrape time and
writes the same exposition prometheus_client's own metrics would.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from types import TracebackType

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

_BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Value:
    """One counter's or gauge's number, for one set of label values."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = value


class Observed:
    """One histogram's buckets, count and sum, for one set of label values."""

    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf only)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self.sum += seconds

    def time(self) -> Timer:
        return Timer(self)


class Timer:
    """``with histogram.labels(...).time():`` observes how long the block took."""

    __slots__ = ("_into", "_started")

    def __init__(self, into: Observed) -> None:
        self._into = into
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._into.observe(time.perf_counter() - self._started)


class _Family:
    """A metric's name, help and label names, and its values by label values."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames


class Counter(_Family):
    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[tuple[str, ...], Value] = {}
        self._only = self.labels() if not labelnames else None

    def labels(self, *values: str) -> Value:
        found = self._values.get(values)
        if found is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}")
            found = self._values[values] = Value()
        return found

    def inc(self, amount: float = 1.0) -> None:
        assert self._only is not None, "a labelled metric counts through labels()"
        self._only.value += amount

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self._values.items():
            family.add_metric(labels, value.value, created=value.created)
        return family


class Gauge(Counter):
    def dec(self, amount: float = 1.0) -> None:
        assert self._only is not None, "a labelled metric counts through labels()"
        self._only.value -= amount

    def set(self, value: float) -> None:
        assert self._only is not None, "a labelled metric counts through labels()"
        self._only.value = value

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self._values.items():
            family.add_metric(labels, value.value)
        return family


class Histogram(_Family):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self._bounds = tuple(float(b) for b in buckets)
        self._values: dict[tuple[str, ...], Observed] = {}

    def labels(self, *values: str) -> Observed:
        found = self._values.get(values)
        if found is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}")
            found = self._values[values] = Observed(self._bounds)
        return found

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self._values.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, float("inf")), value.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric(labels, buckets, value.sum)
            named = dict(zip(self.labelnames, labels, strict=True))
            family.add_sample(f"{self.name}_created", named, value.created)
        return family


class _Collector(Collector):
    def __init__(self, families: list[_Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect()  # type: ignore[attr-defined]


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "proxy_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
        )
        self.bytes_sent = Counter(
            "proxy_response_bytes",
            "Bytes written to clients (headers and bodies), by route template.",
            ("route",),
        )
        self.active_streams = Gauge(
            "proxy_active_streams",
            "Object bodies being relayed to clients right now.",
        )
        self.zero_copy_bytes = Counter(
            "proxy_zero_copy_bytes",
            "Body bytes the kernel sent straight from a local file to a client (sendfile).",
        )
        self.stream_aborts = Counter(
            "proxy_stream_aborts",
            "Streams cut after their headers were sent, by reason.",
            ("reason",),
        )
        self.backend_seconds = Histogram(
            "proxy_backend_request_seconds",
            "Time to a backend's answer (metadata, or the first byte of a body).",
            ("provider", "operation"),
            buckets=_BACKEND_BUCKETS,
        )
        self.backend_errors = Counter(
            "proxy_backend_errors",
            "Backend failures, by provider and error code.",
            ("provider", "error"),
        )
        self.link_refusals = Counter(
            "proxy_link_refusals",
            "Signed links refused, by reason (bad_request, invalid_signature, expired, revoked).",
            ("reason",),
        )
        self.open_connections = Gauge(
            "proxy_open_connections",
            "Client connections open right now.",
        )
        self.refused_connections = Counter(
            "proxy_connections_refused",
            "Client connections closed by a bound before a request was answered, by reason "
            "(head_too_large, head_timeout, evicted, over_capacity).",
            ("reason",),
        )
        self.timeline_recordings = Counter(
            "proxy_timeline_recordings",
            "Recordings selected for timeline playlists, by result (played, skipped).",
            ("result",),
        )
        self.timeline_index_builds = Counter(
            "proxy_timeline_index_builds",
            "Fragment indexes built from a recording's boxes (the rest came from the cache).",
        )
        self.rejected_streams = Counter(
            "proxy_streams_rejected",
            "Requests answered 503 because the process was at its stream limit.",
        )
        self.registry = CollectorRegistry(auto_describe=True)
        families = [value for value in vars(self).values() if isinstance(value, _Family)]
        self.registry.register(_Collector(families))

    def request_counter(self, route: str, method: str, status: int) -> Value:
        return self.requests.labels(route, method, str(status))

    def bytes_counter(self, route: str) -> Value:
        return self.bytes_sent.labels(route)
