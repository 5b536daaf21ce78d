from __future__ import annotations

import base64
import json

import pytest

from agentinstruct_schemas import Seed
from services.common.codec import PoisonError, dead_letter_payload, decode_input

SEED = {"id": "s1", "text": "hello", "source": {"uri": "doc.txt"}}


def test_decodes_a_valid_record() -> None:
    seed = decode_input(json.dumps(SEED).encode(), Seed, max_bytes=10_000)
    assert seed.id == "s1" and seed.schema_version == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "poison.empty"),
        (b"", "poison.empty"),
        (b"x" * 101, "poison.oversized"),
        (b"\xff\xfe\x00bad", "poison.binary"),
        (b'{"a": "\x00"}', "poison.binary"),
        (b"not json", "poison.not_json"),
        (b"[1, 2]", "poison.wrong_schema"),
        (b'{"id": 1}', "poison.wrong_schema"),
        (json.dumps({**SEED, "schema_version": 2}).encode(), "poison.unknown_schema_version"),
        (json.dumps({**SEED, "extra": True}).encode(), "poison.wrong_schema"),
    ],
)
def test_poison_reasons(raw: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonError) as caught:
        decode_input(raw, Seed, max_bytes=100)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_dead_letter_payload_keeps_text_and_encodes_binary() -> None:
    assert dead_letter_payload(b"plain")[:2] == ("plain", "utf-8")
    payload, encoding, notes = dead_letter_payload(b"\xff\x00")
    assert encoding == "base64" and base64.b64decode(payload) == b"\xff\x00"
    assert notes == {"payload_bytes": 2}


def test_dead_letter_payload_is_cut_without_breaking_utf8() -> None:
    text = "é" * 10
    payload, encoding, notes = dead_letter_payload(text.encode(), limit=5)
    assert encoding == "utf-8" and payload == "éé"
    assert notes == {"payload_bytes": 20, "payload_truncated_to": 5}
