"""The sandbox around every process a tool starts: each way out is tried from inside and
fails with nothing done; runaway processes are cut off and the service stays healthy."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import app
from app.config import Settings
from app.tools import sandbox
from app.tools.process_runner import run_process
from app.tools.sandbox import SandboxUnavailable

pytestmark = pytest.mark.slow  # real processes
SERVICE_DIR = Path(app.__file__).resolve().parents[1]


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "folder"
    root.mkdir()
    return root


def inside(folder: Path, script: str, timeout: float = 10, **kw):
    return run_process(["sh", "-c", script], cwd=folder, timeout=timeout, settings=kw.pop("s", settings()), **kw)


def test_sandbox_works_here():
    assert sandbox.probe(settings()) is None


def test_it_runs_unprivileged_even_when_the_service_is_root(folder):
    result = inside(folder, "id -u; grep CapEff /proc/self/status; touch made; ls -n made")
    uid, caps, listed = result.stdout.splitlines()
    assert result.exit_code == 0 and uid != "0" and caps.split()[1] == "0000000000000000"
    assert (folder / "made").exists()  # the folder is writable
    if os.geteuid() == 0:  # the user a set-uid program cannot turn back into root
        assert uid == "65534"
        su = inside(folder, "su -c 'id -u' root </dev/null 2>&1; echo rc=$?")
        assert "rc=0" not in su.stdout


def test_files_outside_the_folder_cannot_be_read_or_written(folder, tmp_path):
    secret = tmp_path / "data" / "agent.db"
    secret.parent.mkdir()
    secret.write_text("THE SERVICE DATABASE")
    script = (f"cat {secret}; ls {SERVICE_DIR}; cat {SERVICE_DIR}/pyproject.toml; ls -A /root /home /run; "
              "touch /usr/evil /etc/evil /evil /tmp/mine && echo wrote-tmp; echo done")
    result = inside(folder, script)
    assert "THE SERVICE DATABASE" not in result.stdout and "llm-planner" not in result.stdout
    assert result.stdout.strip().splitlines()[-2:] == ["wrote-tmp", "done"] or "done" in result.stdout
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists() and not Path("/evil").exists()
    assert not Path("/tmp/mine").exists()  # its /tmp is its own
    for name in ("agent.db", "pyproject.toml"):
        assert "No such file" in result.stderr or name not in result.stdout
    # /root, /home, /run: absent, or (a mount point's parent) empty
    assert "cloudsdk" not in result.stdout and ".bashrc" not in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="writes under /etc")
def test_the_services_own_files_under_etc_are_not_shown(folder, tmp_path):
    """The deployment keeps its env file (API keys, CONFIRM_SECRET) and its operator file in
    /etc/llm-planner: the sandbox shows /etc, but never those, even world-readable."""
    etc = Path("/etc/llm-planner")
    if etc.exists():
        pytest.skip("this machine has a real /etc/llm-planner")
    other = Path(f"/etc/llm-planner-test-{os.getpid()}")
    try:
        etc.mkdir()
        (etc / "llm-planner.env").write_text("ADMIN_API_KEY=THE-ADMIN-KEY\n")
        other.mkdir()
        (other / "operator.toml").write_text("# THE-OPERATOR-FILE\n")
        for path in (etc / "llm-planner.env", other / "operator.toml"):
            path.chmod(0o644)
        result = inside(folder, f"cat {etc}/llm-planner.env {other}/operator.toml; ls -A {etc} {other}; "
                                "cat /etc/hostname >/dev/null && echo etc-shown",
                        s=settings(operator_file=other / "operator.toml"))
        assert "THE-ADMIN-KEY" not in result.stdout and "THE-OPERATOR-FILE" not in result.stdout
        assert "llm-planner.env" not in result.stdout and "operator.toml" not in result.stdout
        assert "etc-shown" in result.stdout  # the rest of /etc is there
    finally:
        for folder_ in (etc, other):
            for child in folder_.glob("*"):
                child.unlink()
            if folder_.exists():
                folder_.rmdir()


def test_host_processes_are_invisible_and_unreachable(folder):
    host = subprocess.Popen(["sleep", "300"])
    try:
        result = inside(folder, f"ls /proc | grep -c '^[0-9]'; kill -9 {host.pid}; echo killed=$?; "
                                f"cat /proc/{os.getpid()}/environ")
        count, killed = result.stdout.split()[:2]
        assert int(count) < 10 and killed != "killed=0"
        assert host.poll() is None  # still running
    finally:
        host.kill()
        host.wait()


def test_no_network_without_the_permission(folder):
    probe = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 3306), timeout=2); print('connected')\n"
             "except OSError as exc:\n    print('refused', exc)")
    cut_off = run_process(["python3", "-c", probe], cwd=folder, timeout=10, settings=settings())
    assert cut_off.stdout.startswith("refused")
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=1).close()
    except OSError:
        return  # no MariaDB here: the other half cannot be shown
    allowed = run_process(["python3", "-c", probe], cwd=folder, timeout=10, settings=settings(), network=True)
    assert allowed.stdout.startswith("connected")


def test_the_environment_is_scrubbed(folder, monkeypatch):
    monkeypatch.setenv("CONFIRM_SECRET", "hunter2-confirm-secret")
    monkeypatch.setenv("DB_URL", "mysql+pymysql://root:pw@127.0.0.1/x")
    result = inside(folder, "env; cat /proc/1/environ | tr '\\0' '\\n'")
    assert "hunter2" not in result.stdout and "DB_URL" not in result.stdout and "CONFIRM" not in result.stdout


def test_runaway_processes_are_cut_off_and_the_service_stays_healthy(folder):
    started = time.monotonic()
    bomb = inside(folder, "f() { f | f & }; f; sleep 2", timeout=4)
    assert time.monotonic() - started < 10
    flood = run_process(["yes"], cwd=folder, timeout=20, settings=settings())
    assert flood.flooded and flood.truncated and len(flood.stdout) <= 10000
    hog = run_process(["python3", "-c", "x = bytearray(1500 * 2**20)"], cwd=folder, timeout=20,
                      settings=settings())
    assert hog.exit_code != 0 and "MemoryError" in hog.stderr
    big = inside(folder, "head -c 3000000 /dev/zero > big", s=settings(sandbox_max_file_mb=1))
    assert big.exit_code != 0 and (folder / "big").stat().st_size <= 2**20
    forever = inside(folder, "sleep 1000 & sleep 1000", timeout=1)
    assert forever.timed_out and forever.exit_code is None and forever.duration_ms < 5000
    time.sleep(0.2)
    leftovers = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 1000" not in leftovers and "f | f" not in leftovers
    assert bomb.exit_code is not None or bomb.timed_out
    # the service still starts processes
    assert inside(folder, "echo fine").stdout == "fine\n"


def test_the_process_limit_holds(folder):
    code = ("import subprocess\nn = 0\nfor _ in range(80):\n    try:\n        subprocess.Popen(['sleep', '3'])\n"
            "        n += 1\n    except OSError:\n        break\nprint(n)")
    result = run_process(["python3", "-c", code], cwd=folder, timeout=10, settings=settings(sandbox_max_procs=20))
    assert 5 < int(result.stdout) < 20


def test_sandbox_none_runs_without_it(folder):
    result = inside(folder, "id -u", s=settings(sandbox="none"))
    assert not result.sandboxed and result.stdout.strip() == str(os.geteuid())


def test_without_bwrap_process_tools_refuse_and_say_how_to_fix(folder, monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_binary", lambda: None)
    assert "no bwrap binary" in sandbox.probe(settings()) and "apt-get install bubblewrap" in sandbox.probe(settings())
    with pytest.raises(SandboxUnavailable, match="no process was started"):
        inside(folder, "touch ran")
    monkeypatch.setattr(sandbox, "bwrap_binary", lambda: "/bin/false")
    assert "/bin/false failed" in sandbox.probe(settings())
    assert not (folder / "ran").exists()


def test_wrap_is_usable_for_a_long_lived_process(folder):
    launch = sandbox.wrap(["cat"], folder, network=False, settings=settings())
    proc = subprocess.Popen(**launch.popen_args(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(b"ping\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"ping\n"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_folder_holding_the_service_is_never_handed_over(tmp_path):
    for folder, says in ((Path("/"), "the service's own folder"), (SERVICE_DIR, "the service's own folder"),
                         (tmp_path, "holds (the database|DATA_DIR)")):
        with pytest.raises(SandboxUnavailable, match=says):
            run_process(["true"], cwd=folder, timeout=5,
                        settings=settings(db_url=f"sqlite:///{tmp_path}/agent.db", data_dir=tmp_path / "data"))


def test_the_sandboxed_tag():
    from app.tools import ToolArgs, tool
    from app.tools.errors import BadToolDeclaration
    from app.tools.registry import ToolRegistry

    def run(args: ToolArgs, ctx):
        return None
    for permissions in (["read"], ["execute", "write"]):
        with pytest.raises(BadToolDeclaration, match="sandboxed"):
            tool(name="t", permissions=permissions, tag="sandboxed")(run)
    made = tool(name="t", permissions=["execute", "network"], tag="sandboxed")(run)
    assert ToolRegistry([made]).sandbox_off().get("t").tag == "write" and made.tag == "sandboxed"
