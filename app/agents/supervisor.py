"""The runtime service: each agent as `llm-planner serve --agent NAME --port P` in its own
process. This node starts, watches (restarting with backoff, up to 5 times in 10 minutes)
and stops the services it launched; every node sees them all in `agent_services` and may
stop any of them over HTTP (`POST /shutdown`, with the admin key)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import httpx

from app.agents import repository
from app.agents.logs import LogPump, log_path, reason_from, tail
from app.agents.processes import (
    Child,
    die_with_parent,
    end,
    healthy,
    port_free,
    remove,
    settings_env,
    write_resources,
)
from app.agents.profiles import Profiles
from app.store.tables import utcnow
from app.tasks.worker import new_owner

log = logging.getLogger("llm_planner.agents")
LIVE = ("starting", "running", "stopping")
MAX_RESTARTS, RESTART_WINDOW_SEC = 5, 600
BACKOFF_SEC = (1, 2, 4, 8, 16)
WATCH_SEC = 0.25


class Supervisor:
    def __init__(self, settings, engine, profiles: Callable[[], Profiles]) -> None:
        self.settings, self.engine, self.profiles = settings, engine, profiles
        self.owner = new_owner()
        self.host = socket.gethostname()
        self.children: dict[str, Child] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-spawner")

    # -- what callers use ----------------------------------------------------------------

    def launch(self, names: list[str], resources: dict[str, dict] | None = None) -> list[dict]:
        """Each named agent's service, started (or already running). Answers once each is
        healthy, or `failed` with the reason."""
        resources = resources or {}
        started = []
        answers: dict[str, dict] = {}
        for name in dict.fromkeys(names):
            outcome = self._start(name, resources.get(name))
            if isinstance(outcome, Child):
                started.append(outcome)
            else:
                answers[name] = outcome
        deadline = time.monotonic() + self.settings.agent_startup_timeout
        for child in started:
            answers[child.name] = self._await_healthy(child, deadline)
        self._ensure_watcher()
        return [answers[name] for name in dict.fromkeys(names)]

    def stop(self, names: list[str]) -> list[dict]:
        return [self._stop_one(name) for name in dict.fromkeys(names)]

    def list(self, name: str | None = None, status: str | None = None) -> list[dict]:
        with self.engine.connect() as conn:
            return [view(row) for row in repository.services(conn, name, status)]

    def discover(self) -> list[dict]:
        """Every recorded service's health, checked now."""
        with self.engine.connect() as conn:
            rows = repository.services(conn)
        for row in rows:
            if row.status not in ("running", "starting", "failed") or not row.url:
                continue
            answers = healthy(row.url)
            if answers and row.status != "running":
                self._record(row.name, status="running", error=None)
            elif not answers and row.status == "running":
                self._record(row.name, status="failed", error="not answering its health check")
        return self.list()

    def logs(self, name: str, lines: int) -> list[str]:
        return tail(log_path(self.settings.log_dir, name), lines)

    def stop_all(self) -> None:
        """This node's services stop with it."""
        self._stop.set()
        with self._lock:
            names = list(self.children)
        for name in names:
            self._stop_one(name)

    # -- starting ------------------------------------------------------------------------

    def _start(self, name: str, resources: dict | None) -> Child | dict:
        with self._lock:
            with self.engine.connect() as conn:
                row = repository.service(conn, name)
            if row is not None and row.status in LIVE:
                mine = self.children.get(name)
                if mine is not None and mine.process.poll() is None:
                    return view(row)
                if mine is None and row.status == "running" and row.url and healthy(row.url):
                    return view(row)  # running, launched by another node or an earlier process
                if mine is None and row.status in ("starting", "stopping") and row.owner != self.owner \
                        and row.updated_at and (utcnow() - row.updated_at).total_seconds() < \
                        self.settings.agent_startup_timeout + self.settings.agent_shutdown_timeout:
                    return view(row)  # another node is at it now
            with self.engine.begin() as conn:
                if row is not None and row.status in LIVE:  # recorded live, but nothing answers
                    repository.update_service(conn, name, status="failed", error="found not answering")
                if not repository.claim_service(conn, name, self.owner, self.host, LIVE):
                    return view(repository.service(conn, name))
            port, why = self._port_for(name)
            if port is None:
                return self._failed(name, why)
            child = self._spawn(name, port, resources)
            self.children[name] = child
            return child

    def _port_for(self, name: str) -> tuple[int | None, str]:
        profile = self.profiles().get(name)
        host = self.settings.host
        if profile is not None and profile.port:
            if port_free(host, profile.port):
                return profile.port, ""
            return None, f"its port {profile.port} is taken by another program"
        low, high = self.settings.agent_port_min, self.settings.agent_port_max
        with self.engine.connect() as conn:
            taken = repository.ports_in_use(conn, self.host, LIVE, but=name)
        fixed = {p.port for p in self.profiles().agents.values() if p.port and p.name != name}
        for port in range(low, high + 1):
            if port in taken or port in fixed:
                continue
            if port_free(host, port):
                return port, ""
        return None, f"no free port in AGENT_PORT_MIN-AGENT_PORT_MAX ({low}-{high})"

    def _spawn(self, name: str, port: int, resources: dict | None, previous: Child | None = None) -> Child:
        env = {**os.environ, **settings_env(self.settings)}
        for own in ("LOG_FILE", "AGENT_RESOURCES_FILE", "AGENT_NAME"):  # its log, resources and name are its own
            env.pop(own, None)
        path = previous.resources if previous is not None else None
        if resources is not None:
            path = write_resources(self.settings.data_dir, name, resources)
        if path is not None:
            env["AGENT_RESOURCES_FILE"] = str(path)
        command = [sys.executable, "-m", "app.cli", "serve", "--agent", name, "--port", str(port),
                   "--host", self.settings.host]
        pump = LogPump(log_path(self.settings.log_dir, name), self.settings.log_max_bytes,
                       self.settings.log_backups)
        pump.write(f"--- llm-planner: starting agent {name} on port {port} ---")
        # Started from one long-lived thread: PR_SET_PDEATHSIG fires when the *thread* that
        # forked ends, and a request's worker thread may end while the service runs on.
        process = self._spawner.submit(
            subprocess.Popen, command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent).result()
        pump.follow(process.stdout)
        url = f"http://{self._public_host()}:{port}"
        child = Child(name, port, process, path)
        extra = {}
        if previous is not None:
            child.restarts = previous.restarts + [time.monotonic()]
            extra["restarts"] = len(child.restarts)
        self._record(name, status="starting", port=port, pid=process.pid, url=url, **extra)
        log.info("agent %s: started (pid %s, port %s)", name, process.pid, port)
        return child

    def _public_host(self) -> str:
        return "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host

    def _await_healthy(self, child: Child, deadline: float) -> dict:
        url = f"http://{self._public_host()}:{child.port}"
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                time.sleep(0.2)  # the last lines reach the log
                return self._give_up(child, "exited at start: " + self._reason(child.name))
            if healthy(url, timeout=1.0):
                self._record(child.name, status="running", error=None)
                with self.engine.begin() as conn:
                    repository.set_endpoint(conn, child.name, url)
                return self._view(child.name)
            time.sleep(0.1)
        return self._give_up(child, f"not healthy after AGENT_STARTUP_TIMEOUT ({self.settings.agent_startup_timeout:g}"
                                    f" s): {self._reason(child.name)}")

    def _give_up(self, child: Child, reason: str) -> dict:
        child.stopping = True
        end(child.process, self.settings.agent_shutdown_timeout)
        remove(child.resources)
        with self._lock:
            if self.children.get(child.name) is child:
                del self.children[child.name]
        return self._failed(child.name, reason)

    def _failed(self, name: str, reason: str) -> dict:
        log.warning("agent %s: could not start: %s", name, reason)
        self._record(name, status="failed", error=reason, pid=None, stopped_at=utcnow())
        return self._view(name)

    def _reason(self, name: str) -> str:
        return reason_from(tail(log_path(self.settings.log_dir, name), 30))

    # -- stopping ------------------------------------------------------------------------

    def _stop_one(self, name: str) -> dict:
        with self._lock:
            child = self.children.pop(name, None)
        if child is not None:
            child.stopping = True
            self._record(name, status="stopping")
            end(child.process, self.settings.agent_shutdown_timeout)
            remove(child.resources)
            self._record(name, status="stopped", pid=None, stopped_at=utcnow())
            with self.engine.begin() as conn:
                repository.set_endpoint(conn, name, None)
            log.info("agent %s: stopped", name)
            return self._view(name)
        with self.engine.connect() as conn:
            row = repository.service(conn, name)
        if row is None:
            return {"name": name, "status": "stopped", "port": None, "pid": None, "url": None,
                    "started_at": None, "restarts": 0}
        if row.status in LIVE and row.url:
            # Launched by another node (or an earlier process): asked to stop over HTTP.
            try:
                httpx.post(f"{row.url}/shutdown", headers={"X-API-Key": self.settings.admin_api_key or ""},
                           timeout=5)
            except httpx.HTTPError:
                pass
            deadline = time.monotonic() + self.settings.agent_shutdown_timeout
            while time.monotonic() < deadline and healthy(row.url, timeout=0.5):
                time.sleep(0.1)
            if healthy(row.url, timeout=0.5):
                return view(row)
            self._record(name, status="stopped", pid=None, stopped_at=utcnow())
        return self._view(name)

    # -- watching ------------------------------------------------------------------------

    def _ensure_watcher(self) -> None:
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(target=self._watch, name="agent-supervisor", daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SEC):
            with self._lock:
                children = list(self.children.values())
            for child in children:
                try:
                    self._check(child)
                except Exception:
                    log.exception("agent %s: checking it failed", child.name)

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.stopping:
            return
        if child.process.poll() is None:
            if child.healthy_by is not None:
                if healthy(f"http://{self._public_host()}:{child.port}", timeout=0.5):
                    child.healthy_by = None
                    self._record(child.name, status="running", error=None)
                elif now > child.healthy_by:
                    child.healthy_by = None
                    end(child.process, self.settings.agent_shutdown_timeout)  # counted as a death below
            return
        with self.engine.connect() as conn:
            row = repository.service(conn, child.name)
        if row is not None and row.status in ("stopped", "stopping"):
            # It stopped itself (POST /shutdown): stopped, not restarted.
            with self._lock:
                self.children.pop(child.name, None)
            remove(child.resources)
            self._record(child.name, status="stopped", pid=None, stopped_at=utcnow())
            return
        if child.restart_at is None:
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_SEC]
            if len(child.restarts) >= MAX_RESTARTS:
                with self._lock:
                    self.children.pop(child.name, None)
                remove(child.resources)
                self._record(child.name, status="failed", pid=None, stopped_at=utcnow(),
                             error=f"died {MAX_RESTARTS + 1} times within {RESTART_WINDOW_SEC // 60} minutes; "
                                   f"not restarted again. Last: {self._reason(child.name)}")
                return
            delay = BACKOFF_SEC[min(len(child.restarts), len(BACKOFF_SEC) - 1)]
            child.restart_at = now + delay
            log.warning("agent %s: died (exit %s); restarting in %s s", child.name, child.process.returncode, delay)
            self._record(child.name, status="starting", pid=None,
                         error=f"died (exit {child.process.returncode}); restarting")
            return
        if now < child.restart_at:
            return
        port = child.port if port_free(self.settings.host, child.port) else None
        if port is None:
            port, why = self._port_for(child.name)
            if port is None:
                with self._lock:
                    self.children.pop(child.name, None)
                remove(child.resources)
                self._failed(child.name, why)
                return
        with self._lock:
            if self.children.get(child.name) is not child:
                return
            fresh = self._spawn(child.name, port, None, previous=child)
            fresh.healthy_by = now + self.settings.agent_startup_timeout
            self.children[child.name] = fresh

    # -- records -------------------------------------------------------------------------

    def _record(self, name: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            repository.update_service(conn, name, **values)

    def _view(self, name: str) -> dict:
        with self.engine.connect() as conn:
            return view(repository.service(conn, name))


def view(row: Any) -> dict:
    return {"name": row.name, "status": row.status, "port": row.port, "pid": row.pid, "url": row.url,
            "started_at": row.started_at, "restarts": row.restarts, "error": row.error}
