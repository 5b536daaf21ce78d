from __future__ import annotations

import pytest
from pydantic import SecretStr

from agentinstruct.llm.base import Role
from services.common.settings import STAGES, ServiceSettings


def test_names_derive_from_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_NAMESPACE", "ns")
    monkeypatch.setenv("TOPIC_REJECTED", "custom.rejected")
    settings = ServiceSettings()
    assert settings.seeds_topic == "ns.seeds"
    assert settings.rejected_topic == "custom.rejected"
    assert settings.dlq_topic("refiner") == "ns.dlq.refiner"
    assert settings.group_id("validator") == "ns.validator"
    assert len(settings.all_topics()) == 5 + len(STAGES)


def test_defaults() -> None:
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.seeds_topic == "agentinstruct.seeds"
    assert settings.dlq_topic("transformer") == "agentinstruct.dlq.transformer"
    assert settings.topic_partitions == 8
    assert settings.llm_concurrency == 128
    assert settings.drain_timeout_s == 30
    assert settings.max_message_bytes == 1_048_576


def test_env_parsing_and_derived_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLS", "rc, text_modification")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("MONGODB_URI", "mongodb://user:pw@db:27017/")
    monkeypatch.setenv("AGENTINSTRUCT_MODEL_JUDGE", "judge-model")
    monkeypatch.setenv("REFINE_ROUNDS", "0")
    settings = ServiceSettings()
    assert settings.skills == ["rc", "text_modification"]
    assert isinstance(settings.openai_api_key, SecretStr)
    masked = settings.masked()
    assert masked["openai_api_key"] == masked["mongodb_uri"] == "**********"
    assert "sk-secret" not in repr(settings) and "pw@" not in str(masked)
    llm = settings.llm_settings()
    assert llm.model_for(Role.JUDGE) == "judge-model"
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-secret"
    assert settings.flow_config().refine_rounds == 0
