"""Text that can always be stored and sent: UTF-16 surrogates joined or replaced.

JSON may legally carry `"\\ud800"`, a lone half of a UTF-16 surrogate pair. Python decodes it
into a string that cannot be encoded as UTF-8, so storing or sending it fails. People's frames
and Slack events can hold one, and so can a model's stream: an emoji split across two chunks
arrives as two escaped halves. Every text the core accepts or produces goes through `repair`:
a pair is joined into its character and a lone half becomes U+FFFD.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repair(text: str) -> str:
    if _encodable(text):
        return text
    # Through UTF-16 with the halves kept as they are: a high half followed by a low half is a
    # valid pair there and decodes to its character; a lone half does not and is replaced.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _is_high_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udbff"


class StreamRepair:
    """`repair` for a stream of pieces: a piece ending in a high half keeps it for the next."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        piece = self._held + piece
        self._held = ""
        if piece and _is_high_surrogate(piece[-1]):
            piece, self._held = piece[:-1], piece[-1]
        return repair(piece)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return repair(held)
