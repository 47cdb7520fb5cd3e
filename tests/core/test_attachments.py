"""Files on messages, in the core: what is fetched, checked, kept and put before the model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.attachments import FileRefused, prepare_file, sniff
from bot.channel_rules import ChatRules, CommandPolicy
from bot.errors import ErrorKind
from bot.memory import MemoryUnavailable
from bot.personas import default_persona
from bot.service import ChatService
from bot.settings import BotSettings, FileLimits, ModelSettings
from bot.types import Attachment, Author, IncomingMessage
from bot.vision import can_see
from testing.fakes import FakeProvider, InMemoryStore, NoticeTarget, RecordingTarget
from testing.images import (
    SVG_WITH_SCRIPT,
    animated_gif,
    color_of,
    image_bytes,
    jpeg,
    png,
    size_of,
)

ALICE = Author(id="u:alice", name="alice")
BOB = Author(id="u:bob", name="bob")


def make(
    settings: BotSettings | None = None, rules: ChatRules | None = None
) -> tuple[ChatService, InMemoryStore, FakeProvider]:
    settings = settings or BotSettings()
    store = InMemoryStore()
    provider = FakeProvider()
    service = ChatService(
        store,
        lambda name: provider,
        settings,
        {settings.name: default_persona(settings)},
        rules=rules,
    )
    return service, store, provider


class Served:
    """A platform's file: counts how often the core fetched it."""

    def __init__(self, data: bytes):
        self.data = data
        self.fetched = 0
        self.limits: list[int] = []

    async def __call__(self, limit: int) -> bytes:
        self.fetched += 1
        self.limits.append(limit)
        return self.data


def file(name: str, data: bytes | Callable[[int], Awaitable[bytes]], **kw: object) -> Attachment:
    fetch = data if callable(data) else Served(data)
    return Attachment(name=name, fetch=fetch, **kw)  # type: ignore[arg-type]


def said(text: str, *files: Attachment, author: Author = ALICE) -> IncomingMessage:
    return IncomingMessage(
        platform="test",
        channel="test:room",
        message_id=None,
        author=author,
        text=text,
        attachments=files,
    )


async def turn(service: ChatService, message: IncomingMessage, target: RecordingTarget) -> None:
    await service.receive(message, target)
    await service.idle()


async def test_an_image_on_an_addressed_message_reaches_the_model() -> None:
    service, store, provider = make()
    served = Served(png(40, 30))
    target = RecordingTarget()
    await turn(service, said("@chatbot what is this?", file("shot.png", served)), target)
    assert served.fetched == 1
    assert served.limits == [FileLimits().max_bytes]  # the adapter is told the cap
    last = provider.requests[0].turns[-1]
    assert last.content == "alice: what is this?\n[image: shot.png]"
    assert [i.media_type for i in last.images] == ["image/png"]
    assert size_of(last.images[0].data) == (40, 30)
    assert target.texts() == ["ok"]  # no refusal line
    (kept,) = store.files.values()
    assert (kept.name, kept.kind, kept.width, kept.height) == ("shot.png", "image", 40, 30)
    assert store.messages[0].text == "@chatbot what is this?"  # no bytes, no marker in the text


async def test_a_mention_with_only_an_image_is_answered_not_hinted() -> None:
    service, _, provider = make()
    target = RecordingTarget()
    await turn(service, said("@chatbot", file("board.jpg", jpeg())), target)
    assert len(provider.requests) == 1
    assert provider.requests[0].turns[-1].images[0].media_type == "image/jpeg"


async def test_plain_chat_files_are_named_but_never_fetched() -> None:
    service, store, provider = make()
    served = Served(png())
    target = RecordingTarget()
    await turn(service, said("look at my cat", file("cat.png", served)), target)
    await turn(service, said("@chatbot what did alice post?", author=BOB), target)
    assert served.fetched == 0
    turns = provider.requests[0].turns
    assert turns[-2].content == "alice: look at my cat\n[attachment: cat.png]"
    assert turns[-2].images == ()
    assert [f.kind for f in store.files.values()] == ["other"]
    assert store.blobs == {}


async def test_earlier_images_stay_newest_first_within_the_count() -> None:
    settings = BotSettings(files=FileLimits(images_per_turn=2))
    service, _, provider = make(settings)
    target = RecordingTarget()
    colours = {"a.png": (255, 0, 0), "b.png": (0, 255, 0), "c.png": (0, 0, 255)}
    for name, colour in colours.items():
        upload = await service.upload("test:room", "alice", name, png(color=colour))
        await turn(service, said("", Attachment(name, upload_id=upload.id)), target)
    await turn(service, said("@chatbot which colours?", author=BOB), target)
    turns = provider.requests[0].turns
    sent = [(t.content, [color_of(i.data) for i in t.images]) for t in turns]
    assert sent[-1] == ("bob: which colours?", [])
    assert sent[-2] == ("alice: [image: c.png]", [(0, 0, 255)])
    assert sent[-3] == ("alice: [image: b.png]", [(0, 255, 0)])
    # The oldest one is named, with who sent it and when.
    assert sent[-4][1] == []
    assert sent[-4][0].startswith("alice: [image: a.png, by alice, 20")
    assert sent[-4][0].endswith(" UTC]")


async def test_a_text_only_model_gets_the_text_and_the_asker_a_short_line() -> None:
    settings = BotSettings(model=ModelSettings(vision=False))
    service, _, provider = make(settings)
    target = NoticeTarget()
    await turn(service, said("@chatbot read this", file("err.png", png())), target)
    (request,) = provider.requests
    assert request.turns[-1].images == ()
    assert "[image: err.png, by alice," in request.turns[-1].content
    assert "this model cannot read images" in request.turns[-1].content
    notices = [s for s in target.sent if s.kind == "notice"]
    assert [(n.text, n.meta.error) for n in notices] == [
        ("This model cannot read images, so I answered from the text only.", ErrorKind.NO_VISION)
    ]
    assert target.sent[-1].text == "ok"  # and it still answers


def test_the_vision_table_knows_text_only_models() -> None:
    assert can_see(ModelSettings(model="gpt-4.1"))
    assert can_see(ModelSettings(model="gemini-2.5-flash"))
    assert not can_see(ModelSettings(model="gpt-3.5-turbo"))
    assert not can_see(ModelSettings(model="o3-mini"))
    assert can_see(ModelSettings(model="llama3.2-vision"))
    assert not can_see(ModelSettings(model="llama3.2"))
    assert not can_see(ModelSettings(model="gpt-4o", vision=False))  # the setting decides first
    assert can_see(ModelSettings(model="some-new-model"))


@pytest.mark.parametrize(
    ("name", "data", "size", "line"),
    [
        ("big.png", png(), 21 * 1024 * 1024, "big.png is over the 20 MB limit."),
        ("report.png", b"%PDF-1.7 not an image at all", None, "report.png: I can read images"),
        ("logo.svg", SVG_WITH_SCRIPT, None, "logo.svg: SVG images are not supported"),
        ("bin.dat", bytes(range(256)) * 4, None, "bin.dat: I can read images"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 10, None, "could not be read as an image"),
    ],
)
async def test_a_refused_file_gets_one_clear_line_and_the_text_still_goes(
    name: str, data: bytes, size: int | None, line: str
) -> None:
    service, store, provider = make()
    served = Served(data)
    target = NoticeTarget()
    await turn(service, said("@chatbot look", file(name, served, size=size)), target)
    notices = [s for s in target.sent if s.kind == "notice"]
    assert len(notices) == 1 and line in notices[0].text
    assert notices[0].meta.error is ErrorKind.FILE_REFUSED
    if size is not None:
        assert served.fetched == 0  # the claimed size alone refuses it
    (request,) = provider.requests
    assert request.turns[-1].images == ()
    assert request.turns[-1].content.startswith("alice: look\n[attachment: " + name)
    assert store.blobs == {}


async def test_bytes_over_the_limit_are_refused_whatever_the_platform_claimed() -> None:
    settings = BotSettings(files=FileLimits(max_bytes=1000))
    service, _, provider = make(settings)
    target = NoticeTarget()
    await turn(service, said("@chatbot", file("p.jpg", jpeg(200, 200, 100), size=10)), target)
    (notice,) = [s for s in target.sent if s.kind == "notice"]
    assert notice.text == "p.jpg is over the 0.977 KB limit."
    assert provider.requests[0].turns[-1].images == ()


async def test_too_many_files_are_named_and_the_sender_told() -> None:
    settings = BotSettings(files=FileLimits(max_files=2))
    service, _, provider = make(settings)
    served = [Served(png()) for _ in range(3)]
    target = NoticeTarget()
    files = [file(f"{i}.png", s) for i, s in enumerate(served)]
    await turn(service, said("@chatbot", *files), target)
    assert [s.fetched for s in served] == [1, 1, 0]
    (notice,) = [s for s in target.sent if s.kind == "notice"]
    assert notice.text == "Only 2 files are read per message: 2.png was not."
    assert len(provider.requests[0].turns[-1].images) == 2


async def test_a_failed_download_is_one_line() -> None:
    service, _, provider = make()

    async def refuse(limit: int) -> bytes:
        raise FileRefused("x.png is not on a file host I may download from.")

    async def broken(limit: int) -> bytes:
        raise ConnectionResetError

    target = NoticeTarget()
    await turn(service, said("@chatbot", file("x.png", refuse), file("y.png", broken)), target)
    (notice,) = [s for s in target.sent if s.kind == "notice"]
    assert notice.text == (
        "x.png is not on a file host I may download from.\ny.png could not be downloaded."
    )
    assert provider.requests  # answered anyway


async def test_a_text_file_becomes_text_within_the_cap() -> None:
    settings = BotSettings(files=FileLimits(text_max_chars=12))
    service, _, provider = make(settings)
    target = RecordingTarget()
    await turn(service, said("@chatbot fix it", file("main.py", b"print('hello world')\n")), target)
    content = provider.requests[0].turns[-1].content
    assert content == (
        "alice: fix it\n[file: main.py (cut at 12 characters)]\n```\nprint('hello\n```"
    )


async def test_uploads_link_only_to_their_own_channel_and_author() -> None:
    service, store, _ = make()
    upload = await service.upload("test:room", "alice", "a.png", png())
    target = NoticeTarget()
    bob_try = said("", Attachment("a.png", upload_id=upload.id), author=BOB)
    received = await service.receive(bob_try, target)
    assert received.stored is not None and received.stored.attachments == ()
    assert store.files[upload.id].message_id is None
    assert "was not found" in target.sent[-1].text
    mine = await service.receive(said("", Attachment("a.png", upload_id=upload.id)), target)
    assert mine.stored is not None
    assert [a.id for a in mine.stored.attachments] == [upload.id]
    history = await service.history("test:room", 10)
    assert [len(m.attachments) for m in history] == [0, 1]


async def test_reset_deletes_removes_the_channels_files() -> None:
    policy = CommandPolicy(reset_deletes=True, reset_users=("u:alice",))
    service, store, _ = make(rules=ChatRules(commands=policy))
    target = RecordingTarget()
    await turn(service, said("@chatbot what", file("a.png", png())), target)
    await service.upload("test:room", "alice", "pending.png", png())
    other = IncomingMessage(
        platform="test",
        channel="test:other",
        message_id=None,
        author=ALICE,
        text="@chatbot x",
        attachments=(file("b.png", png()),),
    )
    await turn(service, other, target)
    assert len(store.files) == 3 and len(store.blobs) == 3
    await turn(service, said("@chatbot reset"), target)
    assert "deleted" in target.texts()[-1]
    assert [f.channel for f in store.files.values()] == ["test:other"]
    assert list(store.blobs) == list(store.files)


def test_types_are_read_from_the_bytes_not_the_name() -> None:
    assert sniff(png()) == "image/png"
    assert sniff(jpeg()) == "image/jpeg"
    assert sniff(animated_gif()) == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(SVG_WITH_SCRIPT) == "image/svg+xml"
    assert sniff("안녕 notes\n".encode()) == "text/plain"
    assert sniff(b"\x00\x01binary") is None


def test_big_images_are_downscaled_and_gifs_become_their_first_frame() -> None:
    limits = FileLimits(max_side=100)
    ready = prepare_file("wide.jpg", jpeg(800, 400), limits)
    assert (ready.media_type, size_of(ready.data)) == ("image/jpeg", (100, 50))
    gif = prepare_file("anim.gif", animated_gif(), limits)
    assert gif.media_type == "image/png"
    assert color_of(gif.data) == (0, 255, 0)  # the first frame
    webp = prepare_file("x.webp", image_bytes(300, 200, kind="WEBP"), limits)
    assert (webp.media_type, size_of(webp.data)) == ("image/jpeg", (100, 67))
    with pytest.raises(FileRefused, match="over the limit of 0.001 megapixels"):
        prepare_file("huge.png", png(40, 30), FileLimits(max_pixels=1000))


async def test_files_that_cannot_be_stored_lose_neither_the_message_nor_the_answer() -> None:
    service, store, provider = make()

    async def down(*args: object) -> list[object]:
        raise MemoryUnavailable("files table gone")

    store.add_files = down  # type: ignore[method-assign,assignment]
    target = NoticeTarget()
    await turn(service, said("@chatbot look", file("a.png", png())), target)
    assert [m.text for m in store.messages] == ["@chatbot look", "ok"]
    (notice,) = [s for s in target.sent if s.kind == "notice"]
    assert notice.text == "The files could not be stored (the database is unavailable)."
    assert provider.requests[0].turns[-1].content == "alice: look"


async def test_a_text_file_is_cut_to_what_the_models_window_has_left() -> None:
    settings = BotSettings(model=ModelSettings(context_window=2000))
    service, _, provider = make(settings)
    target = RecordingTarget()
    await turn(service, said("@chatbot summarise", file("log.txt", b"x" * 10_000)), target)
    content = provider.requests[0].turns[-1].content
    assert content.startswith("alice: summarise\n[file: log.txt (cut to fit the context)]\n```\n")
    kept = content.split("```\n")[1].rstrip("\n`")
    assert 1000 < len(kept) < 3000  # what 2,000 tokens less the reply, prompt and turn allow
