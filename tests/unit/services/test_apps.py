"""Every service app builds without connecting to anything, and documents its topics in AsyncAPI."""

from __future__ import annotations

import importlib

import pytest

from services.common.settings import STAGES, ServiceSettings

INPUTS = {"transformer": "Seed", "suggester": "Transformed", "refiner": "Instruction", "validator": "Candidate"}
OUTPUTS = {"transformer": "Transformed", "suggester": "Instruction", "refiner": "Candidate", "validator": None}


@pytest.mark.parametrize("stage", STAGES)
def test_asyncapi_documents_the_stage(stage: str) -> None:
    module = importlib.import_module(f"services.{stage}.app")
    app = module.create_app(ServiceSettings(topic_namespace="docs"))
    spec = app.schema.to_specification().to_jsonable()
    assert spec["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for name, channel in spec["channels"].items() if "address" in channel}
    assert f"docs.dlq.{stage}" in addresses and "docs.rejected" in addresses
    schemas = spec["components"]["schemas"]
    assert INPUTS[stage] in schemas and "DeadLetter" in schemas and "Rejection" in schemas
    if OUTPUTS[stage] is not None:
        assert OUTPUTS[stage] in schemas
    operations = {op["action"] for op in spec["operations"].values()}
    assert operations == {"receive", "send"}
