"""What the sandbox adds to starting a process: a trivial command (`true`) through
`run_process` with SANDBOX=none and with SANDBOX=bwrap, interleaved in the same run, and
the p50/p95 of each and of the difference. Target: the sandbox adds <= 20 ms at p50.

    uv run python -m bench.sandbox [--runs 40] [--json bench/sandbox-last-run.json]
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from app.config import Settings
from app.tools import sandbox
from app.tools.process_runner import run_process


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    on, off = Settings(_env_file=None, sandbox="bwrap"), Settings(_env_file=None, sandbox="none")
    problem = sandbox.probe(on)
    if problem:
        raise SystemExit(f"the sandbox cannot start here: {problem}")
    times: dict[str, list[float]] = {"none": [], "bwrap": []}
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        folder = Path(tmp)
        for _ in range(3):  # warm up (the probe, page cache)
            run_process(["true"], cwd=folder, timeout=10, settings=on)
            run_process(["true"], cwd=folder, timeout=10, settings=off)
        for _ in range(args.runs):
            for name, settings in (("none", off), ("bwrap", on)):
                started = time.perf_counter()
                result = run_process(["true"], cwd=folder, timeout=10, settings=settings)
                times[name].append((time.perf_counter() - started) * 1000)
                assert result.exit_code == 0, result
    report = {
        "runs": args.runs, "bwrap": sandbox.bwrap_binary(),
        "none_p50_ms": _ms(times["none"], 0.5), "none_p95_ms": _ms(times["none"], 0.95),
        "bwrap_p50_ms": _ms(times["bwrap"], 0.5), "bwrap_p95_ms": _ms(times["bwrap"], 0.95),
        "added_p50_ms": round(statistics.median(times["bwrap"]) - statistics.median(times["none"]), 2),
        "target_added_p50_ms": 20,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
