"""health_check: what an operator asks first. Read-only, no arguments."""

import platform
import time

import psutil

from app.tools import ToolArgs, ToolContext, tool

# Measured over its own short window: `interval=None` compares with the previous call, and
# reads 0.0 on the first call of a process.
CPU_WINDOW_SEC = 0.2


class NoArgs(ToolArgs):
    pass


def _words(out: dict) -> str:
    uptime = out["uptime_sec"]
    days, hours, minutes = uptime // 86400, uptime % 86400 // 3600, uptime % 3600 // 60
    up = f"{days} d {hours} h" if days else f"{hours} h {minutes} min"
    memory, disk = out["memory"], out["disk"]
    return (f"CPU {out['cpu_percent']:g} % of {out['cpu_count']} cores (load {', '.join(map(str, out['load_average']))})\n"
            f"memory {memory['percent']:g} % used, {memory['available_mb']} of {memory['total_mb']} MB free\n"
            f"disk {disk['percent']:g} % used, {disk['free_gb']:g} of {disk['total_gb']:g} GB free\n"
            f"up {up}; {out['platform']['system']} {out['platform']['release']}")


@tool(permissions=["read"], tag="read", render=_words)
def health_check(args: NoArgs, ctx: ToolContext) -> dict:
    """Server status: CPU, memory, disk of the workspace's volume, uptime and platform."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(ctx.workspace.root))
    return {
        "cpu_percent": psutil.cpu_percent(interval=CPU_WINDOW_SEC),
        "cpu_count": psutil.cpu_count(),
        "load_average": [round(x, 2) for x in psutil.getloadavg()],
        "memory": {"total_mb": memory.total // 2**20, "available_mb": memory.available // 2**20,
                   "percent": memory.percent},
        "disk": {"total_gb": round(disk.total / 2**30, 1), "free_gb": round(disk.free / 2**30, 1),
                 "percent": disk.percent},
        "uptime_sec": int(time.time() - psutil.boot_time()),
        "platform": {"system": platform.system(), "release": platform.release(),
                     "machine": platform.machine(), "python": platform.python_version()},
    }
