"""What is wrong with the configuration, said once and plainly at start.

`refusals` stop `serve` and `uvicorn app.main:app` with one message each; `warnings` are
logged once by the app's lifespan (`report`). Both read only the settings and what they name."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from sqlalchemy.engine import make_url

from app.config import SECRET_SETTINGS, Settings, _csv

log = logging.getLogger("llm_planner.startup")

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
SHORT_SECRET = 16
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lstrip("#").strip().rstrip(":.").strip()).lower()


def example_texts(path: Path = ENV_EXAMPLE) -> set[str]:
    """Every value and comment fragment of the example file, as a copied key would read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:  # an install without the file has nothing to copy from
        return set()
    texts = set()
    for line in lines:
        body = line.strip().lstrip("#")
        pieces = [body, *body.split("#")]
        if "=" in body:
            value = body.split("=", 1)[1]
            pieces += [value, *value.split("#")]
        pieces += [part for piece in list(pieces) for part in piece.split(";")]
        # Single words too (a URL, a model name), where they are long enough to pass for a key.
        pieces += [word for word in re.split(r"[\s,=]+", body) if len(word) >= 6]
        texts.update(_normal(piece) for piece in pieces)
    texts.discard("")
    return texts


def _secret_values(settings: Settings):
    for name in SECRET_SETTINGS:
        value = getattr(settings, name)
        if not value:
            continue
        parts = _csv(value) if name in ("confirm_secret", "provider_hmac_secret") else [value]
        for part in parts or [value]:
            yield name.upper(), part
    for key_name, key in settings.named_api_keys.items():  # API_KEYS: each a key like AGENT_API_KEY
        yield f"API_KEYS ({key_name})", key


def copied_secrets(settings: Settings, example: Path = ENV_EXAMPLE) -> list[str]:
    texts = example_texts(example)
    return [f"{name} is text copied from {example.name} ({_normal(value)[:40]!r}), a public file: "
            f"set a real secret, e.g. {GENERATE}"
            for name, value in _secret_values(settings) if _normal(value) in texts]


def short_secrets(settings: Settings) -> list[str]:
    return [f"{name} is shorter than {SHORT_SECRET} characters: anyone may guess it; generate one with "
            f"{GENERATE}" for name, value in _secret_values(settings) if len(value) < SHORT_SECRET]


def _unwritable(what: str, folder: Path) -> str | None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{what} {folder} cannot be created: {existing} is not a folder"
    if os.access(existing, os.W_OK | os.X_OK):
        return None
    stat, uid, gid = existing.stat(), os.getuid(), os.getgid()
    return (f"{what} {existing} is not writable by this process (uid {uid}, gid {gid}; the folder "
            f"belongs to uid {stat.st_uid}). Run as its owner (docker run --user "
            f"{stat.st_uid}:{stat.st_gid} ...) or give it to this user (chown -R {uid}:{gid} {existing})")


def unwritable_data(settings: Settings) -> list[str]:
    problems = []
    if settings.is_sqlite:
        database = make_url(settings.db_url).database
        if database and database != ":memory:":
            problems.append(_unwritable("the SQLite database folder", Path(database).parent))
    if not settings.confirm_secret and not (settings.data_dir / "confirm_secret").is_file():
        problems.append(_unwritable("DATA_DIR", settings.data_dir))
    return [problem for problem in problems if problem]


def operator_files(settings: Settings) -> list[str]:
    from app.tools.operator_file import OperatorFileError, load_operator
    from app.tools.policy import PolicyError, load_policy

    problems = []
    for load, path in ((load_policy, settings.policy_file), (load_operator, settings.operator_file)):
        try:
            load(path)
        except (PolicyError, OperatorFileError) as exc:
            problems.append(str(exc))
    return problems


def schema(settings: Settings) -> list[str]:
    """The database answers and its schema is the code's (SQLite is brought there)."""
    from app.store.db import create_db_engine
    from app.store.migrate import (
        SchemaAhead,
        SchemaBehind,
        describe_db_error,
        ensure_current,
    )

    try:
        engine = create_db_engine(settings.db_url)
    except Exception as exc:
        return [describe_db_error(exc, settings.db_url)]
    try:
        ensure_current(engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
    except (SchemaBehind, SchemaAhead) as exc:
        return [str(exc)]
    except Exception as exc:
        return [describe_db_error(exc, settings.db_url)]
    finally:
        engine.dispose()
    return []


def refusals(settings: Settings) -> list[str]:
    """Reasons not to start at all; the database is asked only when the rest is right."""
    problems = copied_secrets(settings) + unwritable_data(settings) + operator_files(settings)
    return problems or schema(settings)


def notices(settings: Settings, tool_names: list[str]) -> list[str]:
    from app.tools.operator_file import (
        OperatorFileError,
        load_operator,
        operator_warnings,
    )
    from app.tools.policy import PolicyError, load_policy

    found = short_secrets(settings)
    if not settings.provider_verify_signature:
        found.append("PROVIDER_VERIFY_SIGNATURE=0: webhook signatures are NOT checked")
    if settings.plugins_dir and not settings.plugins_dir.is_dir():
        found.append(f"PLUGINS_DIR {settings.plugins_dir} is not a folder: no local plugins are loaded")
    if "operator_file" in settings.model_fields_set and not settings.operator_file.is_file():
        found.append(f"OPERATOR_FILE {settings.operator_file} does not exist: no logs, jobs or APIs "
                     "are declared")
    try:
        policy = load_policy(settings.policy_file)
        operator = load_operator(settings.operator_file)
    except (PolicyError, OperatorFileError) as exc:
        return [*found, str(exc)]
    for where, name in policy.tool_names():
        if name not in tool_names:
            found.append(f"POLICY_FILE {settings.policy_file}: {where} names {name!r}, which no installed "
                         "tool is called")
    for (subject, name) in policy.rules:
        if subject == "keys" and name not in settings.named_api_keys:
            found.append(f"POLICY_FILE {settings.policy_file}: [keys.{name}] names a key API_KEYS does not "
                         "define: the rule applies to no request until it does")
    found += [f"OPERATOR_FILE {settings.operator_file}: {line}" for line in operator_warnings(settings)]
    for api_name, api in sorted(operator.apis.items()):
        for header, value in sorted(api.headers.items()):
            variable = value[4:] if value.startswith("env:") else None
            if variable and not os.environ.get(variable):
                found.append(f"OPERATOR_FILE {settings.operator_file}: apis.{api_name} header {header} "
                             f"reads ${variable}, which is not set: calls to {api_name} are refused")
    found += rate_limit_store(settings)
    return found


def rate_limit_store(settings: Settings) -> list[str]:
    if not settings.rate_limit_storage_url:
        return []
    from limits.storage import storage_from_string

    url = re.sub(r"//[^@/]*@", "//***@", settings.rate_limit_storage_url)
    try:
        reachable = storage_from_string(settings.rate_limit_storage_url).check()
    except Exception:
        reachable = False
    if reachable:
        return []
    if not settings.rate_limit_enabled:
        return [f"RATE_LIMIT_STORAGE_URL {url} does not answer: the hourly budgets are not counted "
                "until it does (request limits are off: RATE_LIMIT_ENABLED=false)"]
    return [f"RATE_LIMIT_STORAGE_URL {url} does not answer: rate-limited routes answer 503 "
            "until it does"]


def report(settings: Settings, tool_names: list[str]) -> None:
    for warning in notices(settings, tool_names):
        log.warning(warning)
