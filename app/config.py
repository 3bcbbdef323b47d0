"""The one Settings object: every name in the contract, from the environment or `.env`."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KNOWN_PERMISSIONS = {"read", "write", "execute", "network"}
# What the migrations and the suite run on; any other driver is not installed or not tested.
SUPPORTED_DB_SCHEMES = ("sqlite", "sqlite+pysqlite", "mysql+pymysql", "mariadb+pymysql")
# Settings that are secrets: never a value copied from .env.example, and long enough.
SECRET_SETTINGS = ("agent_api_key", "admin_api_key", "internal_api_key", "confirm_secret",
                   "provider_hmac_secret", "meta_app_secret", "meta_verify_token", "twilio_auth_token")
SECRET_SETTINGS += ("github_token",)  # the tools for real work (web, GitHub)


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _whsec_bytes(secret: str) -> bytes:
    # As the Standard Webhooks libraries do: padding may be left off.
    return base64.b64decode(secret[len("whsec_"):] + "==")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    db_url: str = "sqlite:///./data/agent.db"
    data_dir: Path = Path("./data")

    llm_provider: Literal["ollama", "openai", "anthropic"] = "ollama"
    ollama_base_url: str = "http://127.0.0.1:11434"
    ollama_api_key: str | None = None
    ollama_model: str | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_model: str | None = None
    anthropic_api_key: str | None = None
    anthropic_model: str | None = None
    anthropic_base_url: str | None = None  # default https://api.anthropic.com
    anthropic_max_tokens: int = Field(4096, ge=1, le=200000)  # the longest answer asked for
    llm_timeout_sec: float = Field(60, gt=0)  # one model call, its retries included
    llm_max_attempts: int = Field(3, ge=1, le=10)
    answerer_enabled: bool = False
    planner_max_retries: int = Field(2, ge=0, le=5)
    history_turns: int = Field(6, ge=0, le=50)
    turn_concurrency: int = Field(2, ge=1, le=64)  # turns of one process computing at once

    agent_api_key: str | None = None
    admin_api_key: str | None = None
    internal_api_key: str | None = None

    provider_hmac_secret: str | None = None
    meta_app_secret: str | None = None
    meta_verify_token: str | None = None
    meta_access_token: str | None = None
    meta_phone_number_id: str | None = None
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    twilio_auth_token: str | None = None
    public_base_url: str | None = None  # the URL Twilio signs, when a proxy rewrites ours
    inbox_wait_sec: float = Field(30, gt=0)  # a duplicate waits this long for the first
    inbox_lease_sec: int = Field(300, ge=10)  # an unfinished delivery older than this is retaken
    dedupe_keep_days: int = Field(7, ge=7)
    provider_verify_signature: bool = True
    provider_max_skew_sec: int = Field(300, ge=1)

    confirm_secret: str | None = None
    confirm_ttl_sec: int = Field(600, ge=1)
    confirm_max_failures: int = Field(5, ge=1, le=100)

    workspace_root: Path = Path("./workspace")
    blocked_permissions: str = "network,execute"
    max_tool_timeout: float = Field(30, gt=0)
    max_output_size: int = Field(10000, ge=100)
    max_request_size: int = Field(1048576, ge=1024)

    rate_limit_enabled: bool = True
    rate_limit_requests: int = Field(10, ge=1)
    rate_limit_storage_url: str | None = None  # e.g. redis://127.0.0.1:6379/0
    rate_limit_namespace: str = "llm-planner"
    session_tool_calls_per_hour: int = Field(120, ge=0)  # 0 = no budget
    session_tokens_per_hour: int = Field(200000, ge=0)
    cors_origins: str | None = None
    reply_language: Literal["en", "es"] = "en"
    operator_file: Path = Path("./operator.toml")
    plugins_dir: Path | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "llm-planner@localhost"
    smtp_starttls: bool = True
    verification_ttl_sec: int = Field(900, ge=60)
    verification_max_attempts: int = Field(5, ge=1, le=20)
    policy_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    log_file: Path | None = None
    log_max_bytes: int = Field(10 * 2**20, ge=1024)
    log_backups: int = Field(5, ge=0)
    # Twilio answers arriving late (it waits about 15 s) go through its Messages API.
    twilio_reply_within_sec: float = Field(10, gt=0)
    twilio_account_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    messages_keep_days: int = Field(90, ge=0)  # conversation history `purge` keeps; 0 = for ever

    # tasks
    task_workers: int = Field(2, ge=0, le=64)  # task slots of this process (serve and worker)
    task_max_steps: int = Field(40, ge=1)
    task_max_seconds: int = Field(3600, ge=1)  # running time only
    task_max_tokens: int = Field(200000, ge=1)
    task_lease_sec: float = Field(60, ge=5)
    task_poll_sec: float = Field(1, gt=0)
    task_drain_sec: float = Field(30, ge=0)

    # the operator console (/console)
    operators: str | None = None  # name:key,name:key
    console_session_sec: int = Field(28800, ge=60)
    console_max_failures: int = Field(5, ge=1, le=1000)
    # sandbox: every process a tool starts (app/tools/sandbox.py)
    sandbox: Literal["bwrap", "none"] = "bwrap"
    sandbox_max_procs: int = Field(64, ge=4)
    sandbox_max_memory_mb: int = Field(1024, ge=64)
    sandbox_max_file_mb: int = Field(100, ge=1)
    sandbox_uid: int = Field(65534, ge=1)  # the user it runs as when the service runs as root
    # agents: profiles (AGENTS_FILE), each launchable as its own service
    agents_file: Path = Path("./agents.toml")
    agent_port_min: int = Field(8001, ge=1, le=65535)
    agent_port_max: int = Field(8999, ge=1, le=65535)
    agent_startup_timeout: float = Field(30, gt=0)
    agent_shutdown_timeout: float = Field(15, ge=0)
    log_dir: Path = Path("./logs")
    agent_name: str | None = None  # set by `serve --agent NAME`: this process is that agent's service
    agent_resources_file: Path | None = None  # handed to a launched agent: its `resources`, owner-only

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value

    @field_validator("db_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        # Users paste the URL their host gives them; SQLAlchemy needs the driver named.
        for bare in ("mysql://", "mariadb://"):
            if value.startswith(bare):
                value = bare[:-3] + "+pymysql://" + value[len(bare):]
        scheme = value.partition("://")[0] if "://" in value else ""
        if scheme not in SUPPORTED_DB_SCHEMES:
            raise ValueError(
                f"unsupported database URL scheme {scheme or value[:20]!r}; use "
                "sqlite:///path/to/agent.db or mysql+pymysql://user:pass@host:3306/dbname "
                "(mysql:// and mariadb:// are read as +pymysql)")
        return value

    @field_validator(
        "ollama_api_key", "ollama_model", "openai_base_url", "openai_api_key", "openai_model",
        "anthropic_api_key", "anthropic_model", "anthropic_base_url",
        "agent_api_key", "admin_api_key", "internal_api_key", "provider_hmac_secret",
        "meta_app_secret", "meta_verify_token", "confirm_secret", "cors_origins", "plugins_dir",
        "meta_access_token", "meta_phone_number_id", "twilio_auth_token", "public_base_url",
        "rate_limit_storage_url", "log_file", "policy_file", "smtp_host", "smtp_user", "smtp_password",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value):
        # `FOO=` in a .env file means "not set", not "the empty secret".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("provider_hmac_secret")
    @classmethod
    def _secrets_decode(cls, value: str | None) -> str | None:
        for secret in _csv(value):
            if secret.startswith("whsec_"):
                try:
                    if not _whsec_bytes(secret):
                        raise binascii.Error
                except binascii.Error:
                    raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        return value

    @field_validator("blocked_permissions")
    @classmethod
    def _known_permissions(cls, value: str) -> str:
        unknown = set(_csv(value)) - KNOWN_PERMISSIONS
        if unknown:
            raise ValueError(
                f"unknown permission(s) {sorted(unknown)}; use any of {sorted(KNOWN_PERMISSIONS)}"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(_csv(self.blocked_permissions))

    @property
    def provider_secrets(self) -> list[bytes]:
        """Standard Webhooks keys: `whsec_<base64>` is the decoded bytes, anything else its UTF-8."""
        keys = []
        for secret in _csv(self.provider_hmac_secret):
            keys.append(_whsec_bytes(secret) if secret.startswith("whsec_") else secret.encode())
        return keys

    @property
    def cors_origin_list(self) -> list[str]:
        return _csv(self.cors_origins)

    @cached_property
    def confirm_keys(self) -> list[str]:
        """Signing keys, oldest first and newest last, as itsdangerous expects."""
        if self.confirm_secret:
            return _csv(self.confirm_secret)
        return [self._stored_confirm_secret()]

    def _stored_confirm_secret(self) -> str:
        # Generated once and kept beside the data so tokens survive a restart; O_EXCL so
        # several workers starting together agree on one key.
        path = self.data_dir / "confirm_secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):
                key = path.read_text().strip()
                if key:
                    return key
                time.sleep(0.02)
            raise RuntimeError(f"{path} is empty; delete it or set CONFIRM_SECRET")
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key

    # dynamic permissions: named keys (API_KEYS), accepted wherever AGENT_API_KEY is; their
    # names are what POLICY_FILE's [keys.NAME] rules and `llm-planner policy --key` name.
    api_keys: str | None = None  # name:key,name:key

    @field_validator("api_keys")
    @classmethod
    def _named_keys(cls, value: str | None) -> str | None:
        names = set()
        for pair in _csv(value):
            name, sep, key = pair.partition(":")
            name, key = name.strip(), key.strip()
            if not sep or not name or not key:
                raise ValueError("API_KEYS takes name:key pairs separated by commas, e.g. ci-bot:KEY1,ops:KEY2")
            if name in names:
                raise ValueError(f"API_KEYS names {name!r} twice")
            names.add(name)
        return value or None

    @property
    def named_api_keys(self) -> dict[str, str]:
        """API_KEYS as {name: key}."""
        return {name.strip(): key.strip() for name, _, key in (pair.partition(":") for pair in _csv(self.api_keys))}

    # the tools for real work: web_search, fetch_url, github
    search_url: str | None = None  # a SearXNG base URL; DuckDuckGo when unset
    search_cache_sec: int = Field(3600, ge=0)  # 0: no cache
    github_api_url: str = "https://api.github.com"
    github_token: str | None = None

    @field_validator("search_url", "github_token", mode="before")
    @classmethod
    def _tools_blank_is_unset(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("search_url", "github_api_url")
    @classmethod
    def _tools_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("give an http:// or https:// URL")
        return value.rstrip("/") if value else value
