from __future__ import annotations

import pytest

from services.common.settings import ServiceSettings


@pytest.fixture(autouse=True)
def _clean_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: tests start from the defaults whatever the shell exports."""
    for name in ServiceSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
