"""The TOML configuration file: merging, the shipped example, and errors that name file and line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.prices import Price
from bot.settings import DEFAULT_SYSTEM_PROMPT
from bot.types import Limit
from chatbot.cli import main
from chatbot.config import AppSettings, ConfigError
from chatbot.tags_config import build_personas, build_rules, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chatbot.toml"
    path.write_text(text, "utf-8")
    return str(path)


def test_builtins_merge_over_environment_defaults() -> None:
    settings = AppSettings.from_env({"CHATBOT_MODEL": "gpt-4o", "CHATBOT_TEMPERATURE": "0.7"})
    personas = build_personas(settings.tags, settings.bot)
    assert sorted(personas) == ["chatbot", "counsel", "dragon", "summary", "translate"]
    assert personas["chatbot"].system_prompt == DEFAULT_SYSTEM_PROMPT
    assert personas["chatbot"].model.temperature == 0.7  # from the environment
    assert personas["summary"].model.temperature == 0.3  # the tag's own
    assert personas["summary"].model.model == "gpt-4o"  # the tag sets none: environment's
    assert personas["summary"].needs_text is False and personas["summary"].behaviour == "summary"


def test_user_file_changes_one_key_adds_a_tag_and_disables_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tags.summary]\nmodel = "gpt-4.1-mini"\n\n'
        '[tags.pirate]\nsystem_prompt = "Arr."\ndescription = "a pirate"\n\n'
        "[tags.counsel]\nenabled = false\n",
    )
    settings = AppSettings.from_env({"CHATBOT_CONFIG": path})
    personas = build_personas(settings.tags, settings.bot)
    assert "counsel" not in personas and personas["pirate"].system_prompt == "Arr."
    assert personas["summary"].model.model == "gpt-4.1-mini"
    assert personas["summary"].system_prompt.startswith("You summarise")  # kept
    assert settings.tags.source == path


def test_a_persona_names_its_slack_name_and_icon(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tags.pirate]\nsystem_prompt = "Arr."\nusername = "Captain Mira"\n'
        'icon_url = "https://example.org/mira.png"\n',
    )
    settings = AppSettings.from_env({"CHATBOT_CONFIG": path})
    personas = build_personas(settings.tags, settings.bot)
    pirate = personas["pirate"]
    assert (pirate.username, pirate.icon_emoji, pirate.icon_url) == (
        "Captain Mira",
        "",
        "https://example.org/mira.png",
    )
    assert (personas["dragon"].username, personas["dragon"].icon_emoji) == (
        "Ember the dragon",
        ":dragon:",
    )
    assert personas["chatbot"].username == ""  # the app's own name and icon


def test_the_example_in_the_repo_is_valid() -> None:
    config = load_config(str(REPO / "config" / "chatbot.toml"))
    assert "pirate" in config.tags and config.channels["web:stories"].persona == "dragon"
    assert not config.channels["web:stories"].threads
    assert config.channels["discord:123456789012345678:234567890123456789"].threads
    assert config.commands.reset_roles == ("admin", "moderator")


def test_missing_file_falls_back_to_defaults_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "nope.toml")
    with caplog.at_level(logging.WARNING):
        settings = AppSettings.from_env({"CHATBOT_CONFIG": missing})
    assert "summary" in settings.tags.tags
    assert f"configuration file {missing} not found" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "moderation = true\n[tags.dragon\n",
            "line 2, column 13: invalid TOML: Expected ']'",
        ),  # TOML syntax
        ("[tags.summary]\n\ntemprature = 0.2\n", "line 3: tags.summary.temprature: unknown key"),
        (
            '[tags.dragon]\ntemperature = "hot"\n',
            "line 2: tags.dragon.temperature: expected a number",
        ),
        (
            "[tags.dragon]\ntemperature = true\n",
            "line 2: tags.dragon.temperature: expected a number",
        ),
        (
            "[tags.dragon]\nhistory_turns = 1.5\n",
            "line 2: tags.dragon.history_turns: expected an integer",
        ),
        (
            "[tags.dragon]\nhistory_turns = 0\n",
            "line 2: tags.dragon.history_turns: must be at least 1",
        ),
        (
            "[memory]\nsummary_backfill = 0\n",
            "line 2: memory.summary_backfill: must be at least 1",
        ),
        (
            '[tags.x]\nbehaviour = "poem"\nsystem_prompt="p"\n',
            "line 2: tags.x.behaviour: must be one of",
        ),
        (
            '[tags.pirate]\ndescription = "a pirate"\n',
            "line 1: tags.pirate: a new tag needs a system_prompt",
        ),
        (
            "[tags.chatbot]\nenabled = false\n",
            "line 2: tags.chatbot.enabled: @chatbot cannot be disabled",
        ),
        (
            '[tags."Big Tag"]\nsystem_prompt = "p"\n',
            'line 1: tags."Big Tag": a tag name is lower case',
        ),
        (
            '[channels."web:x"]\npersona = "ghost"\n',
            "line 2: channels.\"web:x\".persona: no tag named 'ghost'",
        ),
        (
            '[channels."discord:1:2"]\nthreads = "yes"\n',
            'line 2: channels."discord:1:2".threads: expected true or false',
        ),
        (
            "[commands]\nreset_roles = [1, 2]\n",
            "line 2: commands.reset_roles: expected a list of strings",
        ),
        (
            '[tags.dragon]\nicon_emoji = "dragon"\n',
            "line 2: tags.dragon.icon_emoji: must look like :dragon:",
        ),
        (
            '[tags.dragon]\nicon_url = "javascript:alert(1)"\n',
            "line 2: tags.dragon.icon_url: must be an http(s) URL",
        ),
        ('[tags.dragon]\nusername = "  "\n', "line 2: tags.dragon.username: must be 1 to 80"),
        ("modration = true\n", "line 1: modration: unknown key"),
        (
            '[[limits]]\nscope = "galaxy"\nperiod = "day"\ntokens = 5\n',
            "line 2: limits[0].scope: must be one of user, channel, platform",
        ),
        (
            '[[limits]]\nscope = "user"\nperiod = "day"\ntokens = 5\n\n'
            '[[limits]]\nscope = "user"\nperiod = "month"\n',
            "line 6: limits[1]: set tokens or cost_usd (one of them)",
        ),
        (
            '[[limits]]\nscope = "user"\nperiod = "day"\ntokens = 5\ncost_usd = 1\n',
            "line 1: limits[0]: set tokens or cost_usd (one of them)",
        ),
        (
            '[[limits]]\nscope = "user"\nperiod = "day"\ntokens = 0\n',
            "line 4: limits[0].tokens: must be more than 0",
        ),
        (
            '[[limits]]\nscope = "user"\nperiod = "day"\ntokens = "many"\n',
            "line 4: limits[0].tokens: expected an integer",
        ),
        ('[[limits]]\nscope = "user"\ntokens = 5\n', "line 1: limits[0]: period is missing"),
        (
            '[[tags.dragon.limits]]\nscope = "user"\nperiod = "week"\ntokens = 5\n',
            "line 3: tags.dragon.limits[0].period: must be one of day, month",
        ),
        (
            '[[channels."web:x".limits]]\nscope = "user"\nperiod = "day"\nbudget = 5\n',
            'line 4: channels."web:x".limits[0].budget: unknown key',
        ),
        ('limits = "lots"\n', "line 1: limits: expected a list of tables"),
        ('[prices.models."m"]\ninput = 1\n', "line 1: prices.models.m: output is missing"),
        (
            '[prices.models."m"]\ninput = -1\noutput = 1\n',
            "line 2: prices.models.m.input: must be 0 or more",
        ),
        ("[prices]\nas_of = 2025\n", "line 2: prices.as_of: expected a string"),
    ],
)
def test_invalid_file_names_file_line_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        AppSettings.from_env({"CHATBOT_CONFIG": path})
    assert str(err.value).startswith(path)
    assert message in str(err.value)


def test_limits_and_prices_are_read_for_the_core(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[limits]]\nscope = "user"\nperiod = "day"\ntokens = 20000\n\n'
        '[[limits]]\nscope = "platform"\nperiod = "month"\ncost_usd = 30\n\n'
        '[[tags.dragon.limits]]\nscope = "channel"\nperiod = "day"\ntokens = 5000\n\n'
        '[[channels."web:class".limits]]\nscope = "channel"\nperiod = "day"\ncost_usd = 2.5\n\n'
        '[prices]\nas_of = "2026-01-02"\n[prices.models."gpt-4.1"]\ninput = 3.0\n'
        '[prices.models."llama3.2"]\ninput = 0\noutput = 0\n',
    )
    settings = AppSettings.from_env({"CHATBOT_CONFIG": path})
    spending = settings.bot.spending
    assert spending.limits == (
        Limit("user", "day", tokens=20000),
        Limit("platform", "month", cost_usd=30.0),
    )
    assert spending.tag_limits == {"dragon": (Limit("channel", "day", tokens=5000, tag="dragon"),)}
    rules = build_rules(settings.tags)
    assert rules.for_channel("web:class").limits == (Limit("channel", "day", cost_usd=2.5),)
    assert rules.for_channel("web:lobby").limits is None  # the [[limits]] apply there
    # Prices merge key by key over the shipped table.
    assert spending.prices.as_of == "2026-01-02"
    assert spending.prices.models["gpt-4.1"] == Price(input=3.0, output=8.0, cached_input=0.5)
    assert spending.prices.models["llama3.2"] == Price(0.0, 0.0)
    assert spending.prices.models["gemini-2.5-flash"].output == 2.5  # shipped, untouched


def test_a_tags_unknown_provider_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[tags.dragon]\nprovider = "claude"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHATBOT_CONFIG", path)
        assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: tags.dragon.provider: 'claude' is not a provider" in err


@pytest.mark.parametrize("command", ["check", "serve"])
def test_check_and_serve_stop_on_an_invalid_file(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[tags.dragon]\ntemperature = = 1\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHATBOT_CONFIG", path)
        mp.setenv("CHATBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chatbot: configuration error: {path}, line 2, column 15: invalid TOML")


def test_check_lists_the_tags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "tags:      @chatbot, @summary, @translate, @counsel, @dragon" in out
    assert "moderation: off" in out
