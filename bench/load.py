"""Closed-loop load shared by the benchmarks that drive a server with client threads (pages, API)."""

from __future__ import annotations

import statistics
import threading
import time


def run_clients(threads: list[threading.Thread]) -> float:
    """Start every client thread, wait for all; the wall-clock seconds they took together."""
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def latency_summary(latencies: list[float], failures: list[str], wall: float) -> dict:
    """Percentiles (nearest rank) and throughput of ``latencies`` (seconds) measured over ``wall`` seconds."""
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))]

    return {
        "requests": len(ms),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "p50_ms": round(pct(50), 1),
        "p95_ms": round(pct(95), 1),
        "p99_ms": round(pct(99), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "throughput_rps": round(len(ms) / wall, 1),
    }
