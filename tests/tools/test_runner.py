"""run_calls: every call at once, each within its timeout, and never an exception out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.tools.base import Tool, ToolCall, ToolContext, ToolSpec
from bot.tools.runner import MAX_RESULT_CHARS, run_calls

CONTEXT = ToolContext(channel="discord:1:2", author_id="42")


class Returns:
    """A tool that answers `output` (or what `answer` computes from the arguments)."""

    safe_for_web = True

    def __init__(self, name: str, output: Any = "ok") -> None:
        self.spec = ToolSpec(name=name, description=name, parameters={"type": "object"})
        self.output = output
        self.seen: list[tuple[dict[str, Any], ToolContext]] = []

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        self.seen.append((arguments, context))
        return self.output


class Raises(Returns):
    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        raise KeyError("no such city")


class Hangs(Returns):
    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        await asyncio.Event().wait()
        return "never"


class Barrier(Returns):
    """Answers only once `parties` calls have started: sequential calls would never get there."""

    def __init__(self, name: str, parties: int) -> None:
        super().__init__(name)
        self.parties = parties
        self.started = 0
        self.all_in = asyncio.Event()

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.started += 1
        if self.started == self.parties:
            self.all_in.set()
        await self.all_in.wait()
        return f"done {arguments['n']}"


def call(name: str, arguments: str = "{}", id: str = "c1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


def box(*tools: Returns) -> dict[str, Tool]:
    return {t.spec.name: t for t in tools}


async def test_calls_run_at_once_and_results_keep_the_calls_order() -> None:
    barrier = Barrier("wait_for_all", parties=3)
    calls = [call("wait_for_all", f'{{"n": {n}}}', id=f"c{n}") for n in (1, 2, 3)]
    results = await run_calls(calls, box(barrier), CONTEXT, timeout=5)
    # Run one after another, the first would wait for the other two until its timeout.
    assert [r.error for r in results] == [None, None, None]
    assert [r.output for r in results] == ["done 1", "done 2", "done 3"]
    assert [r.call.id for r in results] == ["c1", "c2", "c3"]


async def test_the_tool_gets_the_parsed_arguments_and_the_turns_context() -> None:
    tool = Returns("echo")
    [result] = await run_calls([call("echo", '{"city": "서울", "days": 2}')], box(tool), CONTEXT, 5)
    assert result.error is None and result.output == "ok"
    assert tool.seen == [({"city": "서울", "days": 2}, CONTEXT)]
    await run_calls([call("echo", "")], box(tool), CONTEXT, 5)  # no arguments at all: {}
    assert tool.seen[-1][0] == {}


async def test_an_unknown_tool_is_an_error_result() -> None:
    [result] = await run_calls([call("delete_everything")], box(Returns("echo")), CONTEXT, 5)
    assert result.error == "unknown_tool"
    assert result.output == "error: there is no tool named 'delete_everything'"


@pytest.mark.parametrize("arguments", ['{"city": "Seoul"', "not json", "[1, 2]", '"Seoul"', "3"])
async def test_arguments_that_are_not_a_json_object_are_an_error_result(arguments: str) -> None:
    tool = Returns("echo")
    [result] = await run_calls([call("echo", arguments)], box(tool), CONTEXT, 5)
    assert result.error == "bad_arguments"
    assert result.output == "error: the arguments were not a JSON object"
    assert tool.seen == []  # the tool never ran


async def test_a_tool_that_raises_is_an_error_result_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.tools.runner"):
        broken, fine = await run_calls(
            [call("broken", id="a"), call("fine", id="b")],
            box(Raises("broken"), Returns("fine", "fine answer")),
            CONTEXT,
            5,
        )
    assert broken.error == "failed"
    assert broken.output == "error: the tool failed (KeyError: 'no such city')"
    assert fine.error is None and fine.output == "fine answer"
    assert "broken" in caplog.text and "no such city" not in caplog.text  # the class, no text


async def test_a_tool_that_hangs_is_cut_off_at_its_timeout() -> None:
    slow, quick = await run_calls(
        [call("hangs", id="a"), call("quick", id="b")],
        box(Hangs("hangs"), Returns("quick")),
        CONTEXT,
        timeout=0.2,
    )
    assert slow.error == "timed_out"
    assert slow.output == "error: the tool did not answer within 0.2 seconds"
    assert quick.error is None


async def test_a_result_over_the_limit_is_cut() -> None:
    tool = Returns("big", "x" * (MAX_RESULT_CHARS + 500))
    [result] = await run_calls([call("big")], box(tool), CONTEXT, 5)
    assert result.error is None
    assert result.output == "x" * MAX_RESULT_CHARS + " …(cut)"
    [exact] = await run_calls(
        [call("big")], box(Returns("big", "y" * MAX_RESULT_CHARS)), CONTEXT, 5
    )
    assert exact.output == "y" * MAX_RESULT_CHARS  # at the limit: whole


async def test_lone_surrogates_in_output_are_repaired_and_pairs_kept() -> None:
    tool = Returns("odd", "broken \ud800 half, whole \ud83d\ude00")
    [result] = await run_calls([call("odd")], box(tool), CONTEXT, 5)
    result.output.encode("utf-8")  # would raise on a lone surrogate
    assert result.output == "broken \ufffd half, whole 😀"


async def test_output_that_is_not_text_becomes_text() -> None:
    [result] = await run_calls([call("num")], box(Returns("num", 42)), CONTEXT, 5)
    assert result.output == "42"


async def test_no_calls_no_results() -> None:
    assert await run_calls([], box(Returns("echo")), CONTEXT, 5) == []
