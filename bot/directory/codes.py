"""One-time claim codes (认领码) with which a nursery operator links their Telegram account to their
nursery: generation from an unambiguous alphabet, folding what people type, and the stored digest."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

# No 0/O or 1/I: a code read off paper or a phone screen cannot be mistyped into another valid one.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 8  # 32**8 = 2**40 codes


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def format_code(code: str) -> str:
    """XXXX-XXXX, the way codes are printed."""
    return f"{code[:4]}-{code[4:]}"


def normalize_code(raw: str) -> str | None:
    """The code in canonical form, or None if it cannot be one (wrong length or characters)."""
    folded = unicodedata.normalize("NFKC", raw).upper()
    value = "".join(ch for ch in folded if ch.isalnum())
    if len(value) != LENGTH or any(ch not in ALPHABET for ch in value):
        return None
    return value


def digest(code: str) -> str:
    """What the database keeps instead of the code (SHA-256 hex of the canonical form)."""
    return hashlib.sha256(b"carebot-claim-code:" + code.encode("ascii")).hexdigest()
