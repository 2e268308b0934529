"""Time compression: a long agent loop that stands for real minutes runs in measured seconds.

A compressed workload names the **real-time** speeds it stands for (how fast the model writes, how
long a tool takes) and one ``time_scale``: every simulated wait is divided by it. The provider
generates at ``real tokens/s x scale`` (the request's ``X-Durabench-Tokens-Per-Second``) and a tool
sleeps ``real latency / scale``. One measured second of such a run therefore stands for
``time_scale`` real seconds; reports show each duration both ways (measured, and x scale).

What is *not* compressed: the harness's and the runtime's own work (process start, Postgres round
trips, HTTP), a lease's expiry, a restart. Those run at wall-clock speed, so a real-time equivalent
of a figure that includes them overstates that part by the scale; with ~10 ms of overhead per step
against a compressed step of ~0.5 s the error on a whole loop is a few percent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeCompression:
    """Real-time speeds of an agent and the factor that compresses them."""

    tokens_per_second_real: float = 50.0
    """How fast the model writes in real life (output tokens per second)."""
    tool_latency_real_s: float = 70.0
    """How long one tool call (search, fetch and read pages) takes in real life."""
    time_scale: float = 150.0
    """One measured second stands for this many real seconds; 1 means no compression."""

    def __post_init__(self) -> None:
        if not (self.time_scale >= 1 and self.tokens_per_second_real > 0
                and self.tool_latency_real_s >= 0):
            raise ValueError(
                "time compression needs time_scale >= 1, tokens_per_second_real > 0 and "
                f"tool_latency_real_s >= 0 (got {self})"
            )

    @property
    def tokens_per_second(self) -> float:
        """The provider's simulated speed: real speed x scale."""
        return self.tokens_per_second_real * self.time_scale

    @property
    def tool_latency_s(self) -> float:
        """How long a tool sleeps: real latency / scale."""
        return self.tool_latency_real_s / self.time_scale

    def real_s(self, measured_s: float) -> float:
        """The real-time equivalent of a measured duration."""
        return measured_s * self.time_scale
