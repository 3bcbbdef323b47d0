"""A parked call's secret arguments, encrypted at rest (Fernet) with a key derived from
CONFIRM_SECRET: the newest key seals, every key opens, so rotation is "append, later drop"."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.masking import SECRET

SEALED = "_sealed"  # the key in a parked call's stored args; no argument model can name it
INFO = b"llm-planner/sealed-args/v1"


class SealBroken(Exception):
    pass


def _fernet(key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


class Sealer:
    def __init__(self, keys: list[bytes]) -> None:
        self.fernet = MultiFernet([_fernet(key) for key in reversed(keys)])  # the first seals

    def seal(self, args: dict[str, Any], secret_names: frozenset[str]) -> dict[str, Any]:
        """What is stored: the args with each secret masked, plus their values sealed."""
        secret = {name: args[name] for name in sorted(secret_names) if name in args}
        if not secret:
            return args
        stored = {name: SECRET if name in secret else value for name, value in args.items()}
        blob = json.dumps(secret, ensure_ascii=False, separators=(",", ":")).encode()
        stored[SEALED] = self.fernet.encrypt(blob).decode()
        return stored

    def open(self, stored: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the real args, the args as shown) of a stored call."""
        if SEALED not in stored:
            return stored, stored
        shown = {name: value for name, value in stored.items() if name != SEALED}
        try:
            secret = json.loads(self.fernet.decrypt(str(stored[SEALED]).encode()))
        except (InvalidToken, ValueError):
            raise SealBroken() from None
        if not isinstance(secret, dict):
            raise SealBroken()
        return {**shown, **secret}, shown
