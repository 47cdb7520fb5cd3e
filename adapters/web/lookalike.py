"""Skeletons: what a name looks like, so `сhatbot` (Cyrillic с) cannot pass for `chatbot`.

Two names that look alike have the same skeleton. This is a small subset of the skeletons of
Unicode TS #39 (Security Mechanisms, section 4 "Confusable Detection"), made by hand: NFKC
folding, marks dropped, the common Cyrillic, Greek and Latin-extended homoglyphs of Latin
letters, the digits 0 and 1, the l/I/i family, then casefolding. It is for comparing a name
with a few reserved ones, never for display; false matches only refuse names that read as a
reserved one anyway.
"""

from __future__ import annotations

import unicodedata

# Look-alike -> the Latin letter it passes for. Case matters before casefolding (Greek Η looks
# like H, η like n), so capitals map to capitals; everything is casefolded afterwards.
_HOMOGLYPHS: dict[str, str] = {
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "Ј": "J", "Һ": "H", "Ԛ": "Q",
    "Ԝ": "W", "Ү": "Y",
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "х": "x", "у": "y", "ѕ": "s", "ј": "j", "һ": "h", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ү": "y", "г": "r", "п": "n", "ь": "b", "є": "e", "ҽ": "e",
    "ѵ": "v", "ѡ": "w",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C",
    "α": "a", "β": "b", "ε": "e", "η": "n", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "σ": "o", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ς": "c", "ϳ": "j",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "ց": "g", "հ": "h",
    # Latin extended: small capitals, IPA letters, letters with strokes (no decomposition)
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j",
    "ᴋ": "k", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ɑ": "a", "ɡ": "g", "ĸ": "k", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b",
    "ʉ": "u", "ɗ": "d", "ɓ": "b",
    # Digits that pass for letters
    "0": "o",
    # The l / I / i family, all folded to l, whichever one a name uses: `transIate`, `1`, `|`
    "1": "l", "|": "l", "I": "l", "i": "l", "ı": "l", "ɩ": "l", "ɪ": "l", "ǀ": "l",
    "ł": "l", "ɨ": "l", "Ι": "l", "ι": "l", "І": "l", "і": "l", "Ӏ": "l", "ӏ": "l",
}  # fmt: skip
_TABLE = str.maketrans(_HOMOGLYPHS)

# Letter pairs that read as one letter (TS #39 has these too).
_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def skeleton(text: str) -> str:
    """What `text` looks like: equal skeletons, look-alike names."""
    # Mapped first too: some look-alikes decompose into letters that do not look like them
    # (lunate sigma ϲ, which reads as c, is compatibly a final sigma ς).
    text = text.translate(_TABLE)
    # NFKD is NFKC's compatibility folding (fullwidth ｃ, ligatures, ℓ), decomposed so that
    # combining marks (`o\u0301`, `ó`) can be dropped.
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if unicodedata.category(ch)[0] != "M"
    )
    # Map, casefold, map again: NFKD made letters the first pass did not see (fullwidth Ｉ is
    # I, so l), casefolding small letters of capitals the table lacks (Cyrillic Ѡ, ѡ, so w).
    text = text.translate(_TABLE).casefold().translate(_TABLE)
    for pair, letter in _PAIRS:
        text = text.replace(pair, letter)
    return text
