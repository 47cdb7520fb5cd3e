"""skeleton(): names that look alike fold to one string; names that do not, do not."""

from __future__ import annotations

import pytest

from adapters.web.inbound import RESERVED_NICKNAMES, nickname_problem
from adapters.web.lookalike import skeleton

LOOKALIKES = [
    "ChatBot",
    "CHATBOT",
    "ｃｈａｔｂｏｔ",  # fullwidth
    "\u0441hatbot",  # Cyrillic с
    "сhаtbоt",  # Cyrillic с, а, о
    "СНАТВОТ",  # all Cyrillic capitals
    "\u03f2hatbot",  # Greek lunate sigma
    "chatb\u03bft",  # Greek ο
    "CΗΑΤΒΟΤ",  # Greek Η Α Τ Β Ο Τ, Latin C
    "chatbot\u0301",  # a combining acute
    "chátbőt",  # precomposed marks
    "chatb0t",
    "ᴄʜᴀᴛʙᴏᴛ",  # small capitals
]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_lookalikes_of_chatbot_have_its_skeleton(name: str) -> None:
    assert skeleton(name) == skeleton("chatbot")


@pytest.mark.parametrize(
    ("name", "like"),
    [
        ("ѕуѕtеm", "system"),  # Cyrillic ѕ у е
        ("SYSTEM", "system"),
        ("transIate", "translate"),  # capital I for l
        ("trans1ate", "translate"),
        ("translatе", "translate"),
        ("counseӏ", "counsel"),  # Cyrillic palochka
        ("ｓｕｍｍａｒｙ", "summary"),
        ("surnrnary", "summary"),  # rn for m
        ("ﬁsh", "fish"),  # NFKC: the ligature is two letters
    ],
)
def test_other_lookalikes(name: str, like: str) -> None:
    assert skeleton(name) == skeleton(like)


@pytest.mark.parametrize("name", ["chatbotfan", "chatbo", "chat-bot", "민서", "minseo", "botchat"])
def test_different_names_keep_different_skeletons(name: str) -> None:
    assert skeleton(name) != skeleton("chatbot")


def test_l_i_and_one_fold_the_same_way() -> None:
    assert skeleton("Il1|ıі") == "llllll"
    assert skeleton("Minseo") == skeleton("mlnseo")  # the price: i and l are one letter


def test_korean_names_keep_their_letters_apart() -> None:
    assert skeleton("민서") != skeleton("민수") and skeleton("민서") == skeleton("민서")


def test_nickname_problem_names_what_it_looks_like() -> None:
    problem = nickname_problem("\u0441hatbot", RESERVED_NICKNAMES)
    assert problem is not None and "looks like 'chatbot'" in problem
    assert nickname_problem("chatbotfan", RESERVED_NICKNAMES) is None
    assert nickname_problem("민서", RESERVED_NICKNAMES) is None
