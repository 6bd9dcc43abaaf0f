"""Text as the gate reads it: one spelling for what looks and runs the same.

A model (or a page that talks to it) can hide ``rm`` as fullwidth ``ｒｍ``, split ``DROP`` with a
zero-width space, or write its ``О`` in Cyrillic. The gate judges the folded text; what is typed
stays exactly what the model asked for.
"""

from __future__ import annotations

import unicodedata

# Letters of other scripts drawn like Latin ones (Unicode's confusables, the ones that matter for
# commands): Cyrillic, Greek, Armenian and a few Latin variants.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "һ": "h", "ӏ": "l", "ʏ": "y", "ց": "g", "օ": "o", "ս": "u", "ո": "n", "զ": "q", "ɑ": "a", "ɡ": "g",
    "ı": "i", "ȷ": "j", "ℓ": "l", "ϲ": "c", "ϳ": "j",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    "Һ": "H", "Ӏ": "I",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ω": "w", "ς": "s",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "⁃": "-", "﹣": "-",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "＂": '"',
    "\u00a0": " ", "\u3000": " ", "\t": " ", "\r": "\n",
})
_SMALL_CAPITALS = {"ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
                   "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
                   "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z"}
_CONFUSABLES.update(str.maketrans(_SMALL_CAPITALS))


def fold(text: str) -> str:
    """``text`` in one spelling: NFKC (fullwidth and compatibility forms), without invisible
    format characters (zero-width spaces and joiners, bidi controls, soft hyphens), with look-alike
    letters of other scripts as the Latin letters they pass for, and tabs as spaces. Case is kept:
    each reader folds it where its language ignores case."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in "\ufe0e\ufe0f")
    return text.translate(_CONFUSABLES)
