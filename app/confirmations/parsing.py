"""What a person sends to answer a confirmation, and what no model may ever see of one."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A long token has no spaces; a short code may be typed as "ABCD EFGH".
CONFIRM = re.compile(r"^\s*(confirm|confirmar|cancel|cancelar)\s+([\w.\-]+(?: [\w\-]+)?)\s*$",
                     re.IGNORECASE)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread
CODE_LENGTH = 8


# A word alone answers the session's one waiting confirmation. The first four always mean
# that; the everyday ones do only while the session's latest turn asked for a confirmation,
# otherwise they are an ordinary message for the planner.
BARE_WORDS = {"confirm": "confirm", "confirmar": "confirm", "cancel": "cancel", "cancelar": "cancel"}
EVERYDAY_WORDS = {"yes": "confirm", "si": "confirm", "ok": "confirm", "no": "cancel"}


@dataclass(frozen=True)
class Resolution:
    action: str  # "confirm" | "cancel"
    token: str | None  # None: a bare word, for the one confirmation waiting
    everyday: bool = False  # "yes", "sí", "ok", "no": a reply only right after a request


def _plain(text: str) -> str:
    """Lower case, accents and closing punctuation dropped: "¡Sí!" -> "si"."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip("¡!¿?.,;: ")


def parse_resolution(text: str) -> Resolution | None:
    match = CONFIRM.match(text)
    if match:
        word = match.group(1).lower()
        return Resolution("confirm" if word.startswith("confirm") else "cancel", match.group(2))
    if len(text) > 40:
        return None
    word = _plain(text)
    if word in BARE_WORDS:
        return Resolution(BARE_WORDS[word], None)
    if word in EVERYDAY_WORDS:
        return Resolution(EVERYDAY_WORDS[word], None, everyday=True)
    return None


def normalize_code(text: str) -> str | None:
    code = text.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    return code if len(code) == CODE_LENGTH and all(c in CROCKFORD for c in code) else None


# Anything shaped like a confirmation token: a signed one (three dot-separated base64url
# parts) or a short code. JWTs in a log are masked too, which is no loss to the model.
# Linear time on any text: a match may only start where a run of token characters starts,
# and the runs are taken whole (possessive), so a 10,000-character word costs one pass,
# not one pass per position in it.
TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{16,}+"
    r"|\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


def mask_tokens(text: str) -> str:
    """What the model may see of any text: no live token, whoever put it there."""
    return TOKEN_SHAPES.sub("[token]", text)


def redact(text: str) -> str:
    """What history keeps of a confirm/cancel message: never the live token."""
    resolution = parse_resolution(text)
    return f"{resolution.action} [token]" if resolution and resolution.token else text
