"""`llm-planner doctor`: is this install fit to run? Settings, database and schema, the model,
the workspace's permissions, the sandbox, not root, secrets not the examples. Each problem is
said with its fix; exit status 1 when there is any, 0 otherwise. It changes nothing."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

# Values people leave in place of a secret; compared case-insensitively, as whole values.
PLACEHOLDERS = {"change-me", "changeme", "change_me", "change-this", "changethis", "replace-me", "replaceme",
                "secret", "password", "example", "your-key", "your-key-here", "your-secret", "xxx", "xxxx",
                "todo", "test", "dev", "default", "admin", "key", "token", "key1", "key2"}
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@dataclass
class Finding:
    check: str
    problem: str | None = None  # None: the check passed
    fix: str | None = None
    note: str = ""  # said beside a pass


def running_as_root() -> bool:
    """A function of its own, so tests (which run as root in CI) can say otherwise."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_settings():
    from pydantic import ValidationError

    from app.config import Settings
    from app.startup_checks import operator_files, unwritable_data

    try:
        settings = Settings()
    except ValidationError as exc:
        lines = "; ".join(f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: "
                          f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        return None, [Finding("settings", f"the settings do not load: {lines}",
                              "correct these in the environment or .env (see .env.example)")]
    found = [Finding("settings", problem, "correct the file or the folder named") for problem in
             operator_files(settings) + unwritable_data(settings)]
    return settings, found or [Finding("settings", note="load")]


def check_database(settings) -> Finding:
    from sqlalchemy.engine import make_url

    from app.store.db import create_db_engine
    from app.store.migrate import SchemaAhead, describe_db_error, revisions

    if settings.is_sqlite:  # asked about, not created: a doctor changes nothing
        database = make_url(settings.db_url).database
        if database and database != ":memory:" and not Path(database).is_file():
            return Finding("database", f"the SQLite database {database} does not exist yet",
                           "run `llm-planner migrate` (or start the service: it creates it)")
    try:
        engine = create_db_engine(settings.db_url)
    except Exception as exc:
        return Finding("database", describe_db_error(exc, settings.db_url), "set DB_URL to a database that answers")
    try:
        current, head = revisions(engine)
    except SchemaAhead as exc:
        return Finding("database", str(exc), "upgrade llm-planner to the version that migrated it")
    except Exception as exc:
        return Finding("database", describe_db_error(exc, settings.db_url),
                       "start the database or correct DB_URL (host, port, user, password, name)")
    finally:
        engine.dispose()
    if current != head:
        return Finding("database", f"the schema is at {current or 'nothing (empty database)'}, the code needs {head}",
                       "run `llm-planner migrate`")
    return Finding("database", note=f"answers, schema current ({head})")


def check_model(settings) -> Finding:
    from app.llm import build_model
    from app.llm.base import ModelNotConfigured, ModelUnavailable

    try:
        model = build_model(settings)
        model.ping()
    except ModelNotConfigured as exc:
        return Finding("model", f"no model is configured for LLM_PROVIDER={settings.llm_provider}",
                       f"set {exc.setting}")
    except ModelUnavailable as exc:
        return Finding("model", f"{exc.provider} at {exc.url} does not answer: {exc.reason}",
                       "start the model server, or correct its URL, key and model name")
    except Exception as exc:
        return Finding("model", f"the model could not be asked ({type(exc).__name__}: {exc})",
                       "check LLM_PROVIDER and its settings")
    return Finding("model", note=f"{model.provider} at {model.url} answers")


def check_workspace(settings) -> Finding:
    root = Path(settings.workspace_root)
    if not root.exists():
        return Finding("workspace", f"WORKSPACE_ROOT {root} does not exist",
                       f"create it for the service's user: mkdir -p {root} && chmod 750 {root}")
    if not root.is_dir():
        return Finding("workspace", f"WORKSPACE_ROOT {root} is not a folder", "point WORKSPACE_ROOT at a folder")
    mode = root.stat().st_mode
    if not os.access(root, os.W_OK | os.X_OK):
        return Finding("workspace", f"WORKSPACE_ROOT {root} is not writable by this user (uid {os.getuid()})",
                       f"give it to the service's user: chown -R {os.getuid()}:{os.getgid()} {root}")
    if mode & stat.S_IWOTH:
        return Finding("workspace", f"WORKSPACE_ROOT {root} is writable by every user on this machine "
                       f"(mode {stat.filemode(mode)})", f"chmod o-w {root}")
    return Finding("workspace", note=f"{root} is writable by this user only")


def check_sandbox(settings) -> Finding:
    from app.tools.sandbox import probe

    try:
        problem = probe(settings)
    except Exception as exc:
        problem = f"the sandbox could not be tried ({type(exc).__name__}: {exc})"
    if problem:
        return Finding("sandbox", problem, "see the README's sandbox section")
    return Finding("sandbox", note="works")


def check_user() -> Finding:
    if running_as_root():
        return Finding("user", "running as root: a tool that goes wrong could change anything on this machine",
                       "run as an unprivileged user: useradd --system --home /var/lib/llm-planner llm-planner, "
                       "give it the data, log and workspace folders, and use User=llm-planner "
                       "(deploy/llm-planner.service)")
    return Finding("user", note=f"not root (uid {os.getuid()})")


def _secrets(settings):
    from app.config import SECRET_SETTINGS, _csv

    for name in SECRET_SETTINGS + ("openai_api_key", "anthropic_api_key", "ollama_api_key", "smtp_password"):
        value = getattr(settings, name, None)
        if value:
            parts = _csv(value) if name in ("confirm_secret", "provider_hmac_secret") else [value]
            for part in parts:
                yield name.upper(), part
    for key_name, key in settings.named_api_keys.items():  # as the start checks name them
        yield f"API_KEYS ({key_name})", key


def check_secrets(settings) -> list[Finding]:
    from app.startup_checks import _normal, example_texts

    examples = example_texts()
    found = []
    for name, value in _secrets(settings):
        normal = _normal(value)
        if normal in examples or normal in PLACEHOLDERS or normal.strip("<>{}[]") in PLACEHOLDERS:
            found.append(Finding("secrets", f"{name} is an example or placeholder value ({normal[:20]!r})",
                                 f"set a real secret, e.g. {GENERATE}"))
    return found or [Finding("secrets", note="none is an example")]


def run() -> list[Finding]:
    settings, findings = check_settings()
    if settings is None:
        return findings
    findings += [check_database(settings), check_model(settings), check_workspace(settings),
                 check_sandbox(settings), check_user(), *check_secrets(settings)]
    return findings


def cmd_doctor(args) -> int:
    findings = run()
    problems = [f for f in findings if f.problem]
    for finding in findings:
        if finding.problem:
            print(f"✗ {finding.check}: {finding.problem}")
            print(f"    fix: {finding.fix}")
        else:
            print(f"✓ {finding.check}: {finding.note}")
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("no problems found")
    return 0


def add(sub) -> None:
    doctor = sub.add_parser("doctor", help="check this install: settings, database, model, workspace, "
                                           "sandbox, user, secrets; exit status 1 on any problem")
    doctor.set_defaults(func=cmd_doctor)
