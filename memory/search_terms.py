"""The terms of the full-text index: words for alphabets, character bigrams for Hangul and CJK.

Word tokenisers do not find "소연" in "내 이름은 소연이야" (the word is "소연이야"), and trigram
indexes cannot look up a two-letter name at all. So, as search engines do for CJK, runs of
Hangul, kana and ideographs are indexed as overlapping pairs of characters ("소연", "연이",
"이야") and a single character as itself; other scripts as lower-cased words. A query is cut the
same way, so "소연" and "소연이" both find the message.

Every term is prefixed with a short hash of its channel (`3f2a9c1e_소연`): the index's posting
list for a term holds one channel's messages only, so searching one channel never reads
another's, on SQLite's FTS5 and on PostgreSQL's tsvector alike (the same terms for both).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")
# Hangul syllables and jamo, kana, CJK ideographs (and their extensions and compatibility forms).
_PAIRED = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    r"\uf900-\ufaff\U00020000-\U0002fa1f]+"
)
# Words too common to say anything about a message (they would only make searches slow).
STOPWORDS = frozenset(
    """a an and are as at be been but by can did do does for from had has have he her him his
    how i if in into is it its me my no not of on or our she so than that the their them then
    there these they this to us was we were what when where which who whom why will with would
    you your yes ok okay""".split()
)
MAX_QUERY_TERMS = 12


def channel_prefix(channel: str) -> str:
    return hashlib.blake2b(channel.encode(), digest_size=4).hexdigest()


def words(text: str) -> list[str]:
    """The unprefixed terms of `text`, in order, repeats kept."""
    found: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text).casefold()):
        word = match.group()
        pos = 0
        for paired in _PAIRED.finditer(word):
            if paired.start() > pos:
                found.append(word[pos : paired.start()])
            run = paired.group()
            found += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            pos = paired.end()
        if pos < len(word):
            found.append(word[pos:])
    return [w for w in found if w not in STOPWORDS and (len(w) > 1 or not w.isascii())]


def index_terms(channel: str, text: str) -> str:
    """What the index stores for one message: its distinct terms, space-separated."""
    prefix = channel_prefix(channel)
    return " ".join(f"{prefix}_{w}" for w in dict.fromkeys(words(text)))


def query_terms(channel: str, text: str) -> list[str]:
    """The distinct terms of a question, as the index holds them (at most MAX_QUERY_TERMS)."""
    prefix = channel_prefix(channel)
    return [f"{prefix}_{w}" for w in dict.fromkeys(words(text))][:MAX_QUERY_TERMS]
