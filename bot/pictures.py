"""The files in a model call: images where the model sees them, text files as text.

Runs after the history is chosen (bot/context.py): each turn that renders a stored message with
files gets them. Images go newest first, at most `images_per_turn` in one call; older ones, and
every image for a model that cannot see (bot/vision.py), stay in the text as
`[image: name, by X, date]` so the model still knows they were there. Text files join their
turn as text (cut at `text_max_chars` when they were kept, and to what is left of `room`
tokens in this call, newest first, so a long file cannot push the call past the model's
window). Files that were only named (`[attachment: name]`) or refused say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from bot.context import ChatTurn, ImagePart
from bot.memory import Memory
from bot.settings import FileLimits
from bot.types import StoredAttachment

NO_VISION_LINE = "This model cannot read images, so I answered from the text only."


def _stamp(f: StoredAttachment) -> str:
    return f.created_at.strftime("%Y-%m-%d %H:%M UTC")


class Pictures:
    """One model call's files. `add` may run more than once (a shortened retry, a chain)."""

    def __init__(
        self,
        memory: Memory,
        limits: FileLimits,
        *,
        sees: bool,
        files: Mapping[int, list[StoredAttachment]] | None = None,
        count: Callable[[str], int] | None = None,
        room: int = 0,
    ):
        """`files`: the files already read (Memory.context) of the messages they name, by id
        (an empty list: that message has none); others are read when needed. `count` and `room`: the call's token counter and the tokens text files
        may use."""
        self.memory = memory
        self.limits = limits
        self.sees = sees
        self.count = count
        self.room = room
        self._files: dict[int, list[StoredAttachment]] = dict(files or {})
        self._data: dict[str, bytes | None] = {}
        self.unseen: set[int] = set()  # messages whose images this model could not see

    async def _load(self, ids: Sequence[int]) -> None:
        missing = [i for i in ids if i not in self._files]
        if missing:
            found = await self.memory.files_of(missing)
            for i in missing:
                self._files[i] = found.get(i, [])

    async def _bytes(self, f: StoredAttachment) -> bytes | None:
        if f.id not in self._data:
            self._data[f.id] = await self.memory.file_data(f.id)
        return self._data[f.id]

    def _fit(self, body: str, room: list[int]) -> tuple[str, bool]:
        """The part of `body` that fits in what is left of the room; whether it was cut."""
        if self.count is None:
            return body, False
        cost = self.count(body)
        if cost <= room[0]:
            room[0] -= cost
            return body, False
        keep = max(0, int(len(body) * room[0] / cost)) if cost else 0
        room[0] = 0
        return body[:keep], True

    async def add(self, turns: Sequence[ChatTurn]) -> list[ChatTurn]:
        await self._load([t.message_id for t in turns if t.message_id is not None])
        out = list(turns)
        left = self.limits.images_per_turn if self.sees else 0
        room = [self.room]  # text files' tokens left in this call
        for i in reversed(range(len(out))):  # newest first: the latest images are the ones sent
            turn = out[i]
            files = self._files.get(turn.message_id or 0) if turn.message_id else None
            if not files:
                continue
            lines: list[str] = []
            images: list[ImagePart] = []
            for f in files:
                if f.kind == "image":
                    data = await self._bytes(f) if left > 0 else None
                    if data is not None:
                        images.append(ImagePart(f.media_type, data, f.name))
                        lines.append(f"[image: {f.name}]")
                        left -= 1
                    elif not self.sees:
                        self.unseen.add(turn.message_id or 0)
                        lines.append(
                            f"[image: {f.name}, by {f.author_name}, {_stamp(f)}; "
                            "this model cannot read images]"
                        )
                    else:
                        lines.append(f"[image: {f.name}, by {f.author_name}, {_stamp(f)}]")
                elif f.kind == "text":
                    data = await self._bytes(f)
                    body = data.decode("utf-8", "replace") if data is not None else ""
                    body, squeezed = self._fit(body, room)
                    note = "cut to fit the context" if squeezed else f.note
                    cut = f" ({note})" if note else ""
                    lines.append(f"[file: {f.name}{cut}]\n```\n{body}\n```")
                else:
                    lines.append(f"[attachment: {f.name}{f' ({f.note})' if f.note else ''}]")
            text = turn.content.rstrip()
            joined = "\n".join(lines)
            # `alice:` with nothing typed: the files are what she said.
            text = f"{text} {joined}" if text.endswith(":") else f"{text}\n{joined}"
            out[i] = replace(turn, content=text, images=tuple(images))
        return out
