"""Telling secrets apart from ordinary text, and keeping them out of records.

One heuristic serves two readers: the safety policy (typing a password asks a person
first) and the trajectory writer (typed secrets never reach disk).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN = re.compile(r"^(sk-|ghp_|gho_|github_pat_|xox[abp]-|AKIA|AIza|glpat-)[A-Za-z0-9_\-]{8,}$")
_FORMULA = re.compile(r"^=[A-Z][A-Z0-9.]*\(.*\)$")  # a spreadsheet formula, =SUM(A2:A6), is no password
REDACTED = "«redacted»"


def looks_like_secret(text: str) -> bool:
    """True for password- or token-like text: one word of 8-128 characters mixing at least
    three of lower case, upper case, digits and symbols (not a spreadsheet formula), or a known
    API-token shape."""
    word = text.strip()
    if _TOKEN.match(word):
        return True
    if not 8 <= len(word) <= 128 or any(c.isspace() for c in word) or _FORMULA.match(word):
        return False
    classes = [
        any(c.islower() for c in word),
        any(c.isupper() for c in word),
        any(c.isdigit() for c in word),
        any(not c.isalnum() for c in word),
    ]
    return sum(classes) >= 3 and "@" not in word and "/" not in word


class Redactor:
    """Replaces known secret values with a marker wherever they appear in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text
