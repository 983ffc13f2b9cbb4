"""serve's /metrics: Prometheus text from prometheus_client (the maintained client library).

    math_router_requests_total{method,status}        chat completion requests answered
    math_router_request_seconds{method}              how long each took (a histogram)
    math_router_tokens_total{method,component,direction}  every model call's tokens
    math_router_cost_usd_total{method}               their cost at list prices
    math_router_requests_in_flight                   being answered or waiting now

Each app has its own registry, so two servers in one process (tests) count apart.
"""

from __future__ import annotations

# Seconds: a cached answer, one model call, a router's turns, a local model on a CPU.
BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class ServerMetrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("math_router_requests", "Chat completion requests answered",
                                ["method", "status"], registry=self.registry)
        self.seconds = Histogram("math_router_request_seconds", "Seconds to answer a request",
                                 ["method"], buckets=BUCKETS, registry=self.registry)
        self.tokens = Counter("math_router_tokens", "Tokens of the model calls behind answers",
                              ["method", "component", "direction"], registry=self.registry)
        self.cost = Counter("math_router_cost_usd", "USD of the model calls behind answers, at "
                            "list prices (calls whose price is unknown are not counted)",
                            ["method"], registry=self.registry)
        self.in_flight = Gauge("math_router_requests_in_flight",
                               "Requests being answered or waiting for a turn",
                               registry=self.registry)

    def answered(self, method: str | None, status: int, seconds: float, trace=None) -> None:
        """One request done: its status and time, and what its model calls took."""
        label = method or "-"
        self.requests.labels(label, str(status)).inc()
        if method is None:
            return
        self.seconds.labels(label).observe(seconds)
        if trace is None:
            return
        for component, usage in trace.usage.items():
            self.tokens.labels(label, component, "input").inc(usage.input_tokens)
            self.tokens.labels(label, component, "output").inc(usage.output_tokens)
        if trace.cost_usd is not None:
            self.cost.labels(label).inc(trace.cost_usd)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
