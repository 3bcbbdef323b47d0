"""The files under deploy/: systemd units that keep the service up 24/7, hardened, and a
logrotate example. Read as systemd reads them, and verified by systemd where it is installed."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

DEPLOY = Path(ROOT) / "deploy"
UNITS = {"llm-planner.service": "serve", "llm-planner-worker.service": "worker",
         "llm-planner-agent@.service": "serve --agent %i"}
WRITABLE = {"/var/lib/llm-planner/data", "/var/lib/llm-planner/workspace", "/var/log/llm-planner"}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # systemd allows repeated keys
    parser.optionxform = str
    parser.read_string((DEPLOY / name).read_text())
    return parser


@pytest.mark.parametrize("name,command", UNITS.items())
def test_each_unit_runs_its_command_unprivileged_hardened_and_restarted(name, command):
    service = unit(name)["Service"]
    assert service["ExecStart"].split("/bin/llm-planner ", 1)[1] == command
    assert service["User"] == "llm-planner" and service["User"] != "root"
    assert service["NoNewPrivileges"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert set(service["ReadWritePaths"].split()) == WRITABLE  # and nothing else is writable
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/llm-planner/")
    assert unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_agent_template_reads_the_shared_settings_and_its_own():
    lines = (DEPLOY / "llm-planner-agent@.service").read_text().splitlines()
    files = [line.split("=", 1)[1] for line in lines if line.startswith("EnvironmentFile=")]
    assert files == ["/etc/llm-planner/llm-planner.env", "-/etc/llm-planner/agent-%i.env"]


def test_the_logrotate_example_rotates_the_log_folder(tmp_path):
    text = (DEPLOY / "logrotate" / "llm-planner").read_text()
    assert "/var/log/llm-planner/*.log {" in text
    for directive in ("copytruncate", "compress", "missingok", "su llm-planner llm-planner"):
        assert f"\n    {directive}\n" in text
    if shutil.which("logrotate"):  # its own reading, with root for the user this machine lacks
        config = tmp_path / "llm-planner"
        config.write_text(text.replace("llm-planner llm-planner", "root root"))
        checked = subprocess.run(["logrotate", "--debug", "--state", str(tmp_path / "state"), str(config)],
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0 and "error" not in checked.stderr.lower(), checked.stderr
        assert "rotating pattern: /var/log/llm-planner/*.log" in checked.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_units(tmp_path):
    for name in UNITS:  # the program must exist for verify: /bin/true stands in for the install
        text = (DEPLOY / name).read_text().replace("/opt/llm-planner/.venv/bin/llm-planner", "/bin/true")
        (tmp_path / name).write_text(text)
    targets = [str(tmp_path / name.replace("@.", "@researcher.")) for name in UNITS]
    checked = subprocess.run(["systemd-analyze", "verify", *targets], capture_output=True, text=True, timeout=60)
    ours = [line for line in checked.stderr.splitlines() if str(tmp_path) in line or "llm-planner" in line]
    assert checked.returncode == 0 and not ours, checked.stderr
