"""What the benchmarks share: paths, the machine's description, percentiles, and writing results.

Every benchmark writes `bench/results/<name>.json` (all its figures, the machine, the load
average before and after) and `bench/results/<name>.md` (its table), and may draw PNG plots
beside them; `bench/run.py` runs them all and collects the tables into `bench/results/summary.md`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCIFACT = (ROOT.parent / "shared" / "eval" / "scifact").resolve()

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def machine() -> dict:
    """The machine a figure was measured on, and how busy it was when the run began."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def percentiles(values, points=(50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} in the values' unit, rounded to 0.01."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {f"p{p}": None for p in points}
    return {f"p{p}": round(float(np.percentile(array, p)), 2) for p in points}


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def disk_mb(path: Path) -> float:
    """Bytes under `path` (files only), in MB."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return round(total / 1e6, 1)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (the embedding cache), its WAL included."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(name: str, data: dict, markdown: str, results: Path = RESULTS) -> Path:
    """bench/results/<name>.json and <name>.md; returns the JSON's path."""
    results.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, **data}
    path = results / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    (results / f"{name}.md").write_text(markdown.rstrip() + "\n")
    return path


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
