"""Who may use the console and how they stay signed in: operators' keys (OPERATORS, and
ADMIN_API_KEY as `admin`), a signed session cookie that expires, and the CSRF token each
form carries. Stateless: the cookie is signed with the confirmation keys, so every worker
reads it and no table is needed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_signin"  # the sign-in form's CSRF token, before there is a session
FLASH_COOKIE = "console_flash"
COOKIE_PATH = "/console"
FAILURE_WINDOW_SEC = 15 * 60
ADMIN = "admin"


def operators(settings) -> dict[str, str]:
    """name -> key. A key may hold ':' (split at the first); OPERATORS naming `admin` wins
    over ADMIN_API_KEY."""
    found: dict[str, str] = {}
    for part in (settings.operators or "").split(","):
        name, _, key = part.strip().partition(":")
        if name.strip() and key.strip():
            found[name.strip()] = key.strip()
    if settings.admin_api_key and ADMIN not in found:
        found[ADMIN] = settings.admin_api_key
    return found


def key_matches(known: dict[str, str], name: str, key: str) -> bool:
    """Constant time whether or not the operator exists, so a wrong name and a wrong key
    take as long."""
    expected = known.get(name)
    probe = expected if expected is not None else secrets.token_hex(16)
    same = hmac.compare_digest(probe.encode(), key.encode())
    return expected is not None and same


def _fingerprint(key: str) -> str:
    # A session ends when its operator's key changes or is removed: the cookie carries this.
    return hashlib.sha256(b"console-operator\0" + key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Operator:
    name: str
    csrf: str

    @property
    def session(self) -> str:
        """This sign-in's own id (from its random CSRF token, never the token itself): what a
        sign-out records, so that a copy of the cookie is refused after it."""
        return "console:" + hashlib.sha256(b"console-session\0" + self.csrf.encode()).hexdigest()[:32]


class Signer:
    def __init__(self, settings) -> None:
        self.settings = settings
        keys = settings.confirm_keys
        self._sessions = URLSafeTimedSerializer(keys, salt="console-session")
        self._sign_in = URLSafeTimedSerializer(keys, salt="console-sign-in")
        self._flash = URLSafeTimedSerializer(keys, salt="console-flash")

    # -- sessions ---------------------------------------------------------------------

    def new_session(self, name: str, key: str) -> str:
        return self._sessions.dumps({"o": name, "c": secrets.token_urlsafe(24), "k": _fingerprint(key)})

    def operator(self, cookie: str | None) -> Operator | None:
        """The signed-in operator, or None: no cookie, a forged or expired one (the
        signature's own time, not only the browser's Max-Age), or a key since changed."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=self.settings.console_session_sec)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        key = operators(self.settings).get(str(data.get("o")))
        if key is None or not hmac.compare_digest(_fingerprint(key), str(data.get("k", ""))):
            return None
        return Operator(name=data["o"], csrf=str(data.get("c", "")))

    # -- the sign-in form's token -------------------------------------------------------

    def new_sign_in(self) -> tuple[str, str]:
        """(the cookie, the form's token)."""
        token = secrets.token_urlsafe(24)
        return self._sign_in.dumps(token), token

    def sign_in_token(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return str(self._sign_in.loads(cookie, max_age=3600))
        except BadSignature:
            return None

    # -- one message for the next page -------------------------------------------------

    def flash(self, kind: str, text: str) -> str:
        return self._flash.dumps([kind, text[:2000]])

    def read_flash(self, cookie: str | None) -> tuple[str, str] | None:
        if not cookie:
            return None
        try:
            kind, text = self._flash.loads(cookie, max_age=300)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(kind), str(text)


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected).encode(), str(given).encode())
