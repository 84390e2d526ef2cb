"""A small Prometheus registry: counters and gauges with labels, rendered as text format.

Label values are names and codes chosen by the code (event names, status classes), never
user input, so the number of series stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    inner = ",".join(
        f'{n}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for n, v in zip(names, values, strict=True)
    )
    return "{" + inner + "}"


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        # An unlabelled series exists from the start, so a scrape shows 0 rather than nothing.
        self._values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def samples(self) -> list[tuple[str, float]]:
        suffix = "_total" if self.kind == "counter" else ""
        return [
            (f"{self.name}{suffix}{_labels(self.label_names, k)}", v)
            for k, v in sorted(self._values.items())
        ]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self._values[labels] = value

    def clear(self) -> None:
        """Forget every series (a gauge of things that come and go, refilled each sample)."""
        self._values.clear()

    def dec(self, *labels: str, amount: float = 1.0) -> None:
        self.inc(*labels, amount=-amount)


class Registry:
    def __init__(self) -> None:
        self._metrics: list[Counter] = []
        self._collectors: list[Callable[[], None]] = []
        self.http_requests = self.counter(
            "officehours_http_requests",
            "HTTP requests by method and status class",
            ("method", "status"),
        )
        self.errors = self.counter(
            "officehours_errors",
            "Refusals and failures by error code and transport",
            ("transport", "code"),
        )
        self.realtime_connections = self.gauge(
            "officehours_realtime_connections", "Open Socket.IO connections on this process"
        )
        self.realtime_events = self.counter(
            "officehours_realtime_events", "Socket.IO events received, by event name", ("event",)
        )
        self.media_members = self.gauge(
            "officehours_media_members", "Browser tabs in a meeting's media on this process"
        )
        self.media_meetings = self.gauge(
            "officehours_media_meetings", "Meetings with two or more people on this process"
        )
        self.media_quality = self.gauge(
            "officehours_media_quality",
            "Connection quality of meeting members (rtt and jitter in seconds, loss as a "
            "ratio), median and max over members, sampled every few seconds",
            ("measure", "stat"),
        )
        self.media_participants = self.gauge(
            "officehours_media_participants",
            "Browser tabs in each meeting held on this process, by room (its org:room ids)",
            ("room",),
        )
        self.media_subscription = self.gauge(
            "officehours_media_subscription",
            "Each video subscription on this process: the temporal layer forwarded (0-2), "
            "the subscriber's bandwidth estimate (bits/s), reported loss (ratio) and round "
            "trip (s); series come and go with subscriptions",
            ("room", "peer", "measure"),
        )
        self.sign_ins = self.counter(
            "officehours_sign_ins", "Sign-in attempts by outcome", ("outcome",)
        )

    def counter(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Counter:
        metric = Counter(name, help_text, labels)
        self._metrics.append(metric)
        return metric

    def gauge(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        metric = Gauge(name, help_text, labels)
        self._metrics.append(metric)
        return metric

    def on_collect(self, collector: Callable[[], None]) -> None:
        """Run ``collector`` before each scrape, to refresh gauges read from elsewhere."""
        self._collectors.append(collector)

    def render(self) -> str:
        for collect in self._collectors:
            collect()
        lines: list[str] = []
        for metric in self._metrics:
            suffix = "_total" if metric.kind == "counter" else ""
            lines.append(f"# HELP {metric.name}{suffix} {metric.help}")
            lines.append(f"# TYPE {metric.name}{suffix} {metric.kind}")
            lines.extend(f"{series} {value:g}" for series, value in metric.samples())
        return "\n".join(lines) + "\n"
