"""Tasks, measured side by side in one run on MariaDB with a zero-latency scripted model:

- CPU per task step in one process, against a read-only chat turn (target: ≤ 1.5×);
- time from a task's creation to its first step starting: a slot of the process that took
  the POST (target p50 ≤ 20 ms), and a worker process polling on its own;
- 1,000 one-step tasks drained by 1 and by 2 worker processes (target: 2 ≥ 1.3× one, and
  never a task claimed twice); a worker's RSS after 1,000 tasks against after 100.

    uv run --group bench python -m bench.tasks        # prints the section; --json FILE keeps the figures
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

from app.conversations.message import Message
from app.tasks import queue
from app.tasks.schemas import TaskCreate
from app.tasks.tables import task_steps, task_updates, tasks
from bench.run import fresh_database
from bench.task_worker import runtime_for, settings_for

ROOT = Path(__file__).resolve().parents[1]


def _dirs() -> tuple[str, str]:
    root = Path(tempfile.mkdtemp(prefix="bench-tasks-"))
    (root / "ws").mkdir()
    for n in range(20):
        (root / "ws" / f"file-{n}.txt").write_text("x")
    return str(root / "ws"), str(root / "data")


def cpu_per_step(db: str, tasks_n: int, steps: int, turns: int, rounds: int) -> dict:
    """Steps run on this thread (claim, then the step loop) and chat turns, interleaved task
    by task (one task's steps, then `turns / tasks_n` turns) so that a machine whose speed
    drifts (a shared VM's does) slows both alike; CPU seconds from the process's own clock.
    The ratio is the median of each round's."""
    workspace, data = _dirs()
    runtime = runtime_for(settings_for(db, workspace, data, 0))
    runner, engine = runtime.task_worker.runner, runtime.engine
    per_task = max(1, turns // tasks_n)
    step_ms, turn_ms, ratios, step_rate = [], [], [], []

    def one_round() -> tuple[float, float, float, int]:
        ids = [runtime.tasks.create(TaskCreate(title="bench", description=f"bench task steps:{steps}",
                                               complexity=2)).id for _ in range(tasks_n)]
        step_cpu = turn_cpu = step_wall = 0.0
        for n in range(tasks_n):
            started_cpu, started = time.process_time(), time.perf_counter()
            claimed = queue.claim(engine, runner.owner, 60)
            runner.run(claimed[0].id, lambda: False, claimed[0])
            step_cpu += time.process_time() - started_cpu
            step_wall += time.perf_counter() - started
            started_cpu = time.process_time()
            for i in range(per_task):
                runtime.conversations.answer(Message("web", f"s{(n * per_task + i) % 10}", "what is in the workspace?"))
            turn_cpu += time.process_time() - started_cpu
        with engine.connect() as conn:
            done = conn.execute(sa.select(sa.func.sum(tasks.c.steps)).where(tasks.c.id.in_(ids))).scalar()
        return step_cpu, turn_cpu, step_wall, int(done)

    one_round()  # warm-up
    for _ in range(rounds):
        step_cpu, turn_cpu, wall, done = one_round()
        step_ms.append(step_cpu / done * 1000)
        turn_ms.append(turn_cpu / (per_task * tasks_n) * 1000)
        ratios.append(step_ms[-1] / turn_ms[-1])
        step_rate.append(done / wall)
    return {"step_cpu_ms": statistics.median(step_ms), "turn_cpu_ms": statistics.median(turn_ms),
            "ratio": statistics.median(ratios), "ratios": ratios,
            "steps_per_sec": statistics.median(step_rate), "steps_per_task": steps}


def _worker(db: str, workspace: str, data: str, slots: int = 1, poll: float = 1.0,
            gate: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "bench.task_worker", "--db", db, "--workspace", workspace,
                             "--data", data, "--slots", str(slots), "--poll", str(poll)] + (["--gate"] if gate else []),
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()


def _mariadb_process() -> psutil.Process | None:
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("mariadbd", "mysqld"):
            return proc
    return None


def _cpu(procs: list) -> list[float]:
    """CPU seconds (user + system) so far of each process (a Popen or a psutil.Process)."""
    out = []
    for proc in procs:
        if proc is None:
            out.append(0.0)
            continue
        times = (psutil.Process(proc.pid) if isinstance(proc, subprocess.Popen) else proc).cpu_times()
        out.append(times.user + times.system)
    return out


def _first_step_ms(engine, ids: list[str]) -> list[float]:
    """Creation to the worker's "running" update, both stamped by the database rows."""
    with engine.connect() as conn:
        created = dict(conn.execute(sa.select(tasks.c.id, tasks.c.created_at).where(tasks.c.id.in_(ids))).all())
        running = conn.execute(sa.select(task_updates.c.task_id, sa.func.min(task_updates.c.created_at))
                               .where(task_updates.c.task_id.in_(ids), task_updates.c.content == "running")
                               .group_by(task_updates.c.task_id)).all()
    return [(at - created[task_id]).total_seconds() * 1000 for task_id, at in running]


def _wait_all(engine, ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(
                tasks.c.id.in_(ids), tasks.c.status != "complete")).scalar()
        if not left:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{left} tasks did not complete")


def first_step_latency(db: str, n: int) -> dict:
    workspace, data = _dirs()
    # In-process: the slot of the process that created the task is woken at once.
    runtime = runtime_for(settings_for(db, workspace, data, 1))
    runtime.task_worker.start()
    ids = []
    for _ in range(n):
        ids.append(runtime.tasks.create(TaskCreate(title="b", description="steps:1", complexity=1)).id)
        _wait_all(runtime.engine, ids[-1:])
    runtime.task_worker.stop(10)
    local = sorted(_first_step_ms(runtime.engine, ids))
    # A worker process on its own, polling every TASK_POLL_SEC (1 s).
    api = runtime_for(settings_for(db, workspace, data, 0))
    proc = _worker(db, workspace, data, 1, 1.0)
    ids = []
    try:
        for _ in range(max(10, n // 5)):
            ids.append(api.tasks.create(TaskCreate(title="b", description="steps:1", complexity=1)).id)
            _wait_all(api.engine, ids[-1:])
            time.sleep(0.13)  # land at different points of the poll interval
    finally:
        _stop(proc)
    remote = sorted(_first_step_ms(api.engine, ids))
    return {"in_process_p50_ms": statistics.median(local), "in_process_p99_ms": local[int(len(local) * 0.99) - 1],
            "remote_p50_ms": statistics.median(remote), "remote_max_ms": remote[-1], "n": n}


def throughput(db: str, n: int, processes: int) -> dict:
    workspace, data = _dirs()
    api = runtime_for(settings_for(db, workspace, data, 0))
    ids = [api.tasks.create(TaskCreate(title="b", description="steps:1", complexity=1)).id for _ in range(n)]
    procs = [_worker(db, workspace, data, 1, 0.2, gate=True) for _ in range(processes)]
    rss_100 = None
    try:
        # The clock starts when every process is up: this measures draining, not imports.
        mariadb = _mariadb_process()
        cpu_before = _cpu([*procs, mariadb])
        started = time.perf_counter()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        watched = psutil.Process(procs[0].pid)
        while True:
            with api.engine.connect() as conn:  # a fresh database: every task in it is this run's
                done = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(
                    tasks.c.status == "complete")).scalar()
            if rss_100 is None and done >= 100 * processes:
                rss_100 = watched.memory_info().rss / 2**20
            if done == n:
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu = [after - before for after, before in zip(_cpu([*procs, mariadb]), cpu_before)]
        rss_end = watched.memory_info().rss / 2**20
    finally:
        for proc in procs:
            _stop(proc)
    with api.engine.connect() as conn:
        steps = conn.execute(sa.select(sa.func.count()).select_from(task_steps).where(
            task_steps.c.task_id.in_(ids))).scalar()
        twice = conn.execute(sa.select(sa.func.count()).select_from(task_updates).where(
            task_updates.c.task_id.in_(ids), task_updates.c.content == "running")).scalar() - n
    return {"tasks": n, "processes": processes, "seconds": elapsed, "tasks_per_sec": n / elapsed,
            "steps_stored": steps, "worker_cpu_sec": sum(cpu[:-1]), "mariadb_cpu_sec": cpu[-1],
            "claimed_more_than_once": twice, "rss_after_100_mb": rss_100,
            "rss_after_all_mb": rss_end}


def render(r: dict) -> str:
    c, l, one, two = r["cpu"], r["latency"], r["one"], r["two"]
    scale = two["tasks_per_sec"] / one["tasks_per_sec"]
    growth = one["rss_after_all_mb"] / one["rss_after_100_mb"] - 1
    mark = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    return "\n".join([
        "## Tasks",
        "",
        f"Measured {r['when']} on MariaDB with the scripted model, side by side in one run "
        "(`uv run --group bench python -m bench.tasks` measures these alone).",
        "",
        "| figure | value | target | |",
        "| --- | --- | --- | --- |",
        f"| CPU per task step (one read tool), one process | {c['step_cpu_ms']:.2f} ms | | |",
        f"| CPU per read-only chat turn, same run | {c['turn_cpu_ms']:.2f} ms | | |",
        f"| a step as a share of a chat turn | {c['ratio']:.2f}× | ≤ 1.5× | {mark(c['ratio'] <= 1.5)} |",
        f"| steps per second, one worker thread | {c['steps_per_sec']:.0f} | | |",
        f"| creation → first step, a slot of the same process, p50 / p99 | {l['in_process_p50_ms']:.1f} / "
        f"{l['in_process_p99_ms']:.1f} ms | p50 ≤ 20 ms | {mark(l['in_process_p50_ms'] <= 20)} |",
        f"| creation → first step, a worker process polling every 1 s, p50 / max | {l['remote_p50_ms']:.0f} / "
        f"{l['remote_max_ms']:.0f} ms | | |",
        f"| {one['tasks']} one-step tasks, 1 worker process | {one['tasks_per_sec']:.0f} tasks/s | | |",
        f"| the same, 2 worker processes | {two['tasks_per_sec']:.0f} tasks/s ({scale:.2f}×) | ≥ 1.3× | "
        f"{mark(scale >= 1.3)} |",
        f"| tasks claimed more than once (both runs) | {one['claimed_more_than_once'] + two['claimed_more_than_once']}"
        f" | 0 | {mark(one['claimed_more_than_once'] + two['claimed_more_than_once'] == 0)} |",
        f"| worker RSS after 100 tasks → after {one['tasks']} | {one['rss_after_100_mb']:.1f} → "
        f"{one['rss_after_all_mb']:.1f} MB ({growth:+.1%}) | within 10 % | {mark(abs(growth) <= 0.10)} |",
        "",
    ])


def measure(server: str, tasks_n: int) -> dict:
    from datetime import datetime, timezone
    results = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print("  CPU per step against a chat turn", flush=True)
    results["cpu"] = cpu_per_step(fresh_database(server, "llm_planner_bench_tasks"), 20, 5, 100, 5)
    print("  creation to first step", flush=True)
    results["latency"] = first_step_latency(fresh_database(server, "llm_planner_bench_tasks"), 100)
    print(f"  {tasks_n} tasks, 1 worker process", flush=True)
    results["one"] = throughput(fresh_database(server, "llm_planner_bench_tasks"), tasks_n, 1)
    print(f"  {tasks_n} tasks, 2 worker processes", flush=True)
    results["two"] = throughput(fresh_database(server, "llm_planner_bench_tasks"), tasks_n, 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--json", default=str(ROOT / "bench" / "tasks-last-run.json"))
    args = parser.parse_args()
    results = measure(os.environ.get("BENCH_DB_URL", "mysql+pymysql://root@127.0.0.1:3306"), args.tasks)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(render(results))


if __name__ == "__main__":
    main()
