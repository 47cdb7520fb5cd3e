"""The TOML configuration file: merging, the shipped example, and errors that name file and line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.settings import DEFAULT_SYSTEM_PROMPT
from chatbot.cli import main
from chatbot.config import AppSettings, ConfigError
from chatbot.tags_config import build_personas, load_config

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
    ],
)
def test_invalid_file_names_file_line_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        AppSettings.from_env({"CHATBOT_CONFIG": path})
    assert str(err.value).startswith(path)
    assert message in str(err.value)


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
