"""`GET /metrics`: Prometheus text format."""

from __future__ import annotations

QUANTILES = (0.5, 0.9, 0.99)
CLOSED_REASONS = ("header_timeout", "per_address", "total", "head_too_big")


def render(stats, started: int, refused: dict[str, int], gate=None) -> str:
    lines = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value:g}")

    metric("arcus_sessions", "gauge", "Conversations taking a slot.", [("", stats.sessions)])
    metric("arcus_max_sessions", "gauge", "Conversation slots.", [("", stats.max_sessions)])
    metric("arcus_sessions_started_total", "counter", "Conversations that got their handshake.",
           [("", started)])
    metric("arcus_sessions_refused_total", "counter", "Conversations ended or refused, by reason.",
           [(f'{{reason="{r}"}}', n) for r, n in sorted(refused.items())] or [('{reason="full"}', 0)])
    metric("arcus_frames_total", "counter", "Steps of the batch (all conversations at once).",
           [("", stats.frames_total)])
    metric("arcus_late_ticks_total", "counter",
           "Steps that started later than they could have (the engine was busy).",
           [("", stats.late_ticks)])
    summary(lines, "arcus_frame_seconds", "Time of one step (encode, model, decode); quantiles "
            "of the last 1000.", stats.frame_ms, stats.frame_ms_sum, stats.frames_total)
    summary(lines, "arcus_frame_wait_seconds", "How long a client's whole frame waited for its "
            "step; quantiles of the last 4000 frames.", stats.wait_ms, stats.wait_ms_sum,
            stats.slot_frames_total)
    if gate is not None:
        metric("arcus_connections_unauthorised", "gauge",
               "Connections that have not yet sent a request with the token.", [("", len(gate.waiting))])
        metric("arcus_connections_unauthorised_one_address", "gauge",
               "The most such connections any one address has now.",
               [("", max(gate.per_address.values(), default=0))])
        metric("arcus_connections_unauthorised_max", "gauge",
               "How many such connections may wait at once.", [("", gate.total_cap)])
        metric("arcus_connections_closed_total", "counter",
               "Connections closed before their request passed, by reason.",
               [(f'{{reason="{r}"}}', gate.closed[r]) for r in CLOSED_REASONS])
    if stats.gpu_memory is not None:
        metric("arcus_gpu_memory_bytes", "gauge", "GPU memory allocated by the engine.",
               [("", stats.gpu_memory)])
        metric("arcus_gpu_memory_peak_bytes", "gauge", "Peak GPU memory allocated by the engine.",
               [("", stats.gpu_memory_peak)])
    return "\n".join(lines) + "\n"


def summary(lines: list[str], name: str, help_: str, values_ms: list[float], total_ms: float,
            count: int) -> None:
    """Quantiles of the recent values; `_sum` and `_count` since the start, as
    Prometheus expects (rates are taken from them)."""
    values = sorted(values_ms)
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} summary")
    for q in QUANTILES:
        lines.append(f'{name}{{quantile="{q}"}} {_quantile(values, q) / 1e3:g}')
    lines.append(f"{name}_sum {total_ms / 1e3:.6f}")
    lines.append(f"{name}_count {count}")


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
