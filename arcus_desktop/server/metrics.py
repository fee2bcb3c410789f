"""`GET /metrics`: Prometheus text format."""

from __future__ import annotations

QUANTILES = (0.5, 0.9, 0.99)


def render(stats, started: int, refused: dict[str, int]) -> str:
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
    summary(lines, "arcus_frame_seconds", "Time of one step (encode, model, decode), last 1000.",
            stats.frame_ms)
    summary(lines, "arcus_frame_wait_seconds",
            "How long a client's whole frame waited for its step, last 4000 frames.", stats.wait_ms)
    if stats.gpu_memory is not None:
        metric("arcus_gpu_memory_bytes", "gauge", "GPU memory allocated by the engine.",
               [("", stats.gpu_memory)])
        metric("arcus_gpu_memory_peak_bytes", "gauge", "Peak GPU memory allocated by the engine.",
               [("", stats.gpu_memory_peak)])
    return "\n".join(lines) + "\n"


def summary(lines: list[str], name: str, help_: str, values_ms: list[float]) -> None:
    values = sorted(values_ms)
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} summary")
    for q in QUANTILES:
        lines.append(f'{name}{{quantile="{q}"}} {_quantile(values, q) / 1e3:g}')
    lines.append(f"{name}_sum {sum(values) / 1e3:g}")
    lines.append(f"{name}_count {len(values)}")


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
