"""LLM settings: per-role defaults, and the API key never shows."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr, ValidationError

from agentinstruct.llm import DEFAULT_MAX_TOKENS, LLMSettings, OpenAILLM, Role

SECRET = "sk-test-do-not-print-1234567890"


def test_defaults_per_role() -> None:
    settings = LLMSettings(default_model="base", models={Role.JUDGE: "judge-model"}, temperature={Role.EDIT: 0.1})
    assert settings.model_for(Role.JUDGE) == "judge-model"
    assert settings.model_for(Role.TEACHER) == "base"
    assert settings.temperature_for(Role.EDIT) == 0.1
    assert settings.temperature_for(Role.TRANSFORM) == 0.7
    assert settings.temperature_for(Role.TEACHER) == 0.3
    assert settings.temperature_for(Role.JUDGE) == 0.0
    assert settings.max_tokens_for(Role.SUGGEST) == DEFAULT_MAX_TOKENS[Role.SUGGEST]
    assert settings.concurrency == 64
    assert settings.seed == 1234
    assert settings.endpoint == "https://api.openai.com/v1"
    assert LLMSettings(default_model="m", base_url="http://h:1/v1/").endpoint == "http://h:1/v1"


def test_validation() -> None:
    with pytest.raises(ValidationError):
        LLMSettings(default_model="m", concurrency=0)
    with pytest.raises(ValidationError):
        LLMSettings(default_model="m", unknown_field=1)  # type: ignore[call-arg]


def test_secret_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    settings = LLMSettings(default_model="m", api_key=SecretStr(SECRET), base_url="http://127.0.0.1:9/v1")
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()
    assert SECRET not in str(settings.model_dump())
    llm = OpenAILLM(settings)
    assert SECRET not in repr(llm)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s %r", settings, llm)
    assert SECRET not in caplog.text
    assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRET


def test_key_from_a_plain_string() -> None:
    settings = LLMSettings.model_validate({"default_model": "m", "api_key": SECRET})
    assert isinstance(settings.api_key, SecretStr)
    assert SECRET not in repr(settings)
