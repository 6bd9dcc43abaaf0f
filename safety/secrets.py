"""Telling secrets apart from ordinary text, by evidence, and keeping them out of records.

A secret is recognised by what proves it is one, not by how many kinds of characters it mixes:

- the field it goes into (the accessibility tree says it is a password field: the gate's
  caller says so through ``Proposal.secret``);
- a known token shape, by detect-secrets' plugins (cloud keys, GitHub, Slack, Stripe and other
  tokens, JWTs, PEM private keys, credentials in URLs) and the shapes of newer services;
- a check digit: payment cards (Luhn), IBANs (mod 97), national ID numbers with their own checks;
- a value given to a name that says it is one (``password=...``, ``-p...`` of a database client,
  ``Authorization: Bearer ...``);
- a word no one would type as prose: a long high-entropy string, or a short word that mixes
  letters with digits or symbols inside its parts as passwords do (``Tr0ub4dor&3``,
  ``hunter2@home/x``), but not a file name, an invoice number, an identifier or a formula.

One reader serves two: the safety policy (typing a secret asks a person first) and the records
(secrets never reach disk, logs, the web page or the model's history).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import cache

from safety.normalise import fold

REDACTED = "«redacted»"

_SHAPES = re.compile(r"""
    \b(sk-(proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}
  | (ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,} | github_pat_[A-Za-z0-9_]{40,} | glpat-[A-Za-z0-9_\-]{20,}
  | xox[abprse]-[A-Za-z0-9\-]{10,} | (sk|rk|pk)_(live|test)_[A-Za-z0-9]{16,} | AIza[A-Za-z0-9_\-]{35}
  | (AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16} | hf_[A-Za-z0-9]{30,} | npm_[A-Za-z0-9]{36} | pypi-[A-Za-z0-9_\-]{50,}
  | SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,} | SK[0-9a-f]{32} | dop_v1_[a-f0-9]{64} | shpat_[a-fA-F0-9]{32}
  | eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,} | \d{8,10}:AA[A-Za-z0-9_\-]{33}
  | [MN][A-Za-z\d]{23}\.[\w-]{6}\.[\w-]{27})
""", re.VERBOSE)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----")
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s/:@]+:([^\s/@]+)@", re.I)
_ASSIGNED = re.compile(
    r"""(?ix)(?:\b|_)(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret
    |auth|credential)s?\w*["']?\s*[:=]\s*["']?([^\s"']{4,})""")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9_\-.=+/]{12,})")
_CLI_PASSWORD = re.compile(r"\b(?:mysql|mariadb|mysqldump|mysqladmin)\b[^\n]*?\s-p([^\s-][^\s]{3,})|--password[= ]([^\s]{4,})"
                           r"|\blogin\b[^\n]*?\s-p\s+('[^']{4,}'|\"[^\"]{4,}\"|\S{4,})"
                           r"|(?:^|\s)(?:-u|--user)\s+[^\s:]+:([^\s]{4,})|\bsshpass\s+-p\s*(\S{4,})")
_CARD = re.compile(r"(?<![\d-])(\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NINO = re.compile(r"\b(?![DFIQUV])[A-Z](?![DFIQUVO])[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_CN_ID = re.compile(r"\b\d{17}[\dX]\b")
_DNI = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_INSEE = re.compile(r"\b([12])[ .]?(\d{2})[ .]?(\d{2})[ .]?(\d{2}|2A|2B)[ .]?(\d{3})[ .]?(\d{3})[ .]?(\d{2})\b")
_NAMED_ID = re.compile(r"(?i)\b(ssn|social security( number)?|sozialversicherungs\w*|passport( number| no\.?)?|"
                       r"tax (id|number)|steuer-?id|national id|id number|personalausweis\w*|bsn|pesel|cpf|cnpj|"
                       r"personnummer|hetu|henkilötunnus|nir|insee|dni|nie|nif|codice fiscale|aadhaar|pan|sin|tfn|"
                       r"burgerservicenummer|numéro de sécurité sociale|rut|curp|my ?number|マイナンバー|身份证)"
                       r"\b\D{0,15}([\dA-Z][\dA-Z .\-/+]{6,}[\dA-Z])")
_EMAIL = re.compile(r"^[\w.+\-]+@[\w\-]+(\.[\w\-]+)+$")
_URL = re.compile(r"^([a-z][a-z0-9+.\-]*://|www\.)\S+$", re.I)
_FORMULA = re.compile(r"^[=+@][A-Za-z][A-Za-z0-9_.]*\(.*\)$|^=")


def find_secrets(text: str, words: bool = True) -> list[str]:
    """The secret values in ``text`` (as typed), longest first; empty when there is none.

    ``words=False`` leaves out the password-like-word test: in a command line, arguments are
    often random-looking (hashes, base64), and a password shows itself by its syntax there
    (``-p...``, ``user:pass@``, ``TOKEN=...``)."""
    folded = fold(text)
    found: list[str] = []
    found += [m.group(0) for m in _SHAPES.finditer(folded)]
    found += _library_shapes(folded)
    if _PEM.search(folded):
        found.append(folded.strip())
    found += [m.group(1) for m in _URL_CREDENTIALS.finditer(folded)]
    found += [m.group(3) for m in _ASSIGNED.finditer(folded) if not _placeholder(m.group(3))]
    found += [m.group(2) for m in _BEARER.finditer(folded) if _entropy(m.group(2)) > 3.0]
    found += [g for m in _CLI_PASSWORD.finditer(folded) for g in m.groups() if g and not _placeholder(g)]
    found += [m.group(0) for m in _CARD.finditer(folded) if _luhn(re.sub(r"\D", "", m.group(0)))]
    found += [m.group(0) for m in _IBAN.finditer(folded) if _iban_valid(m.group(0))]
    found += [m.group(0) for m in _SSN.finditer(folded)]
    found += [m.group(0) for m in _NINO.finditer(folded)]
    found += [m.group(0) for m in _CN_ID.finditer(folded) if _cn_id_valid(m.group(0))]
    found += [m.group(0) for m in _DNI.finditer(folded) if _dni_valid(*m.groups())]
    found += [m.group(0) for m in _INSEE.finditer(folded) if _insee_valid(m.groups())]
    found += [m.group(m.lastindex or 0) for m in _NAMED_ID.finditer(folded)]
    found += [word.strip(".,;:!?\"'()[]") for word in folded.split() if words and _password_like(word)
              and not any(word in f or f in word for f in found)]
    found = [f.strip("'\"") for f in found if f and not re.search(r"(?i)x{6,}|\*{4,}|(.)\1{7,}", f)]  # placeholders
    if any(f not in text for f in found):  # folding changed it: the text as typed is what to hide
        found.append(text.strip())
    return sorted({f for f in found if f}, key=len, reverse=True)


def looks_like_secret(text: str) -> bool:
    """True when ``text`` holds anything :func:`find_secrets` finds."""
    return bool(find_secrets(text))


def _placeholder(value: str) -> bool:
    """``password=$PASSWORD``, ``token: <your token>``, ``pass=****``: no secret typed."""
    return bool(re.fullmatch(r"\$\w+|\$\{\w+\}|<[^>]*>?|\*+|x+|\.+|%\w+%|\{\{.*\}\}|(true|false|none|null|yes|no)",
                             value.strip("'\";,"), re.I))


@cache
def _detectors() -> tuple[object, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    skipped = ("HighEntropy", "IPPublic", "Keyword")  # entropy and keywords are judged here, IPs are no secret
    return tuple(c() for c in get_mapping_from_secret_type_to_class().values()
                 if not any(s in c.__name__ for s in skipped))


def _library_shapes(text: str) -> list[str]:
    """Token shapes detect-secrets' plugins know, as whole words of the text."""
    found = []
    for line in text.splitlines():
        for detector in _detectors():
            for value in detector.analyze_string(line):  # type: ignore[attr-defined]
                word = next((w for w in line.split() if value in w), value)
                found.append(word if len(word) > len(value) and len(value) < 8 else value)
    return found


def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    iban = text.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _cn_id_valid(text: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(text[:17], weights))
    return "10X98765432"[total % 11] == text[17]


def _dni_valid(prefix: str, number: str, letter: str) -> bool:
    value = int("XYZ".index(prefix).__str__() + number if prefix else number)
    return "TRWAGMYFPDXBNJZSQVHLCKE"[value % 23] == letter


def _insee_valid(groups: tuple[str, ...]) -> bool:
    body = "".join(groups[:6]).replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(groups[6])


def _entropy(word: str) -> float:
    counts = {c: word.count(c) for c in set(word)}
    return -sum(n / len(word) * math.log2(n / len(word)) for n in counts.values())


def _password_like(word: str) -> bool:
    """A single word typed as passwords are: its parts mix letters with digits or symbols
    (``Tr0ub4dor&3``, ``hunter2@home/x``), or it is a long random-looking string. Names, codes,
    identifiers and hashes are built of parts that are each letters or each digits
    (``INV-2024-0042``, ``Quarterly_Report-2024.xlsx``, ``getUserById2``, a UUID)."""
    word = word.strip(".,;:!?\"'()[]")
    if not 8 <= len(word) <= 128 or _EMAIL.match(word) or _URL.match(word) or _FORMULA.match(word):
        return False
    if re.fullmatch(r"(~|\.{1,2}/|/|\$\w+/)[\w.\-/]*|[A-Za-z]:\\[\w\\. \-]*", word):  # a path
        return False
    if re.search(r"\w\(.*\)|\w\.\w+\(", word):  # code: a call
        return False
    classes = sum([any(c.islower() for c in word), any(c.isupper() for c in word), any(c.isdigit() for c in word),
                   any(not c.isalnum() for c in word)])
    if classes < 3:
        return False
    parts = [p for p in re.split(r"[-_./:#=+' ]+", word) if p]
    if all(re.fullmatch(r"[0-9a-fA-F]+", p) for p in parts):  # hashes, UUIDs, colours
        return False
    mixed = [p for p in parts if not re.fullmatch(r"\$?[A-Za-z]+\d*|\d+[A-Za-z]{0,2}|\d+(st|nd|rd|th)", p)]
    if not mixed:
        return False
    if any(not c.isalnum() for p in mixed for c in p):
        return True
    # letters and digits only: passwords swap digits in for letters (Tr0ub4dor), product names
    # put a number between words (iPhone15Pro)
    switches = sum(len(re.findall(r"(?=[A-Za-z]\d|\d[A-Za-z])", p)) for p in mixed)
    return switches >= 3 or (len(word) >= 20 and _entropy(word) >= 3.8)


class Redactor:
    """Replaces known secret values with a marker wherever they appear in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text
