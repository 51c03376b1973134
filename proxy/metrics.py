"""Every metric's name, help text and labels, in one place.

Label values are bounded by construction: routes are route templates, never
paths; providers are configured names; reasons and errors are the codes of
``proxy.errors``; statuses are HTTP codes. No label ever carries a filename, an
account secret or a signature. Each process has its own registry, so with
``--workers N`` a scrape sees one worker (run one worker per pod and scale pods,
or sum over pods).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "proxy_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.bytes_sent = Counter(
            "proxy_response_bytes",
            "Bytes written to clients (headers and bodies), by route template.",
            ["route"],
            registry=r,
        )
        self.active_streams = Gauge(
            "proxy_active_streams",
            "Object bodies being relayed to clients right now.",
            registry=r,
        )
        self.zero_copy_bytes = Counter(
            "proxy_zero_copy_bytes",
            "Body bytes the kernel sent straight from a local file to a client (sendfile).",
            registry=r,
        )
        self.stream_aborts = Counter(
            "proxy_stream_aborts",
            "Streams cut after their headers were sent, by reason.",
            ["reason"],
            registry=r,
        )
        self.backend_seconds = Histogram(
            "proxy_backend_request_seconds",
            "Time to a backend's answer (metadata, or the first byte of a body).",
            ["provider", "operation"],
            buckets=_BACKEND_BUCKETS,
            registry=r,
        )
        self.backend_errors = Counter(
            "proxy_backend_errors",
            "Backend failures, by provider and error code.",
            ["provider", "error"],
            registry=r,
        )
        self.link_refusals = Counter(
            "proxy_link_refusals",
            "Signed links refused, by reason (bad_request, invalid_signature, expired, revoked).",
            ["reason"],
            registry=r,
        )
        self.open_connections = Gauge(
            "proxy_open_connections",
            "Client connections open right now.",
            registry=r,
        )
        self.refused_connections = Counter(
            "proxy_connections_refused",
            "Client connections closed by a bound before a request was answered, by reason "
            "(head_too_large, head_timeout, evicted, over_capacity).",
            ["reason"],
            registry=r,
        )
        self.timeline_recordings = Counter(
            "proxy_timeline_recordings",
            "Recordings selected for timeline playlists, by result (played, skipped).",
            ["result"],
            registry=r,
        )
        self.timeline_index_builds = Counter(
            "proxy_timeline_index_builds",
            "Fragment indexes built from a recording's boxes (the rest came from the cache).",
            registry=r,
        )
        self.rejected_streams = Counter(
            "proxy_streams_rejected",
            "Requests answered 503 because the process was at its stream limit.",
            registry=r,
        )

        # Children by label values: ``labels()`` costs a lock and a few microseconds a call.
        self._children: dict[tuple[object, ...], Counter] = {}

    def request_counter(self, route: str, method: str, status: int) -> Counter:
        return self._child(self.requests, route, method, str(status))

    def bytes_counter(self, route: str) -> Counter:
        return self._child(self.bytes_sent, route)

    def _child(self, metric: Counter, *labels: str) -> Counter:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
