from __future__ import annotations

from typing import Any

import pytest

from agentinstruct.checks.tool_calls import (
    extract_calls,
    is_clarification,
    is_refusal,
    parse_call_blocks,
    render_call,
    transcript_checks,
    validate_call,
    value_has_type,
)

APIS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "city": {"type": "string", "description": "city name", "required": True},
            "units": {"type": "string", "description": "unit system", "enum": ["metric", "imperial"]},
            "days": {"type": "integer", "description": "forecast days"},
        },
        "returns": {"type": "object", "description": "temperature and sky"},
    },
    {
        "name": "send_email",
        "description": "Send an email.",
        "parameters": {
            "to": {"type": "string", "description": "recipient", "required": True},
            "body": {"type": "string", "description": "text", "required": True},
        },
        "returns": {"type": "boolean", "description": "sent"},
    },
]


def user(text: str = "Weather in Oslo please, then mail it to ana@example.com") -> dict[str, Any]:
    return {"role": "user", "content": text}


def call(name: str, arguments: dict[str, Any], note: str = "") -> dict[str, Any]:
    content = render_call(name, arguments)
    return {"role": "assistant", "content": f"{note}\n\n{content}" if note else content}


def tool(name: str, content: str = '{"status": "success", "result": {"temp": 4}}') -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": content}


def say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def by_name(results: list[Any]) -> dict[str, Any]:
    return {r.name: r for r in results}


def failing(results: list[Any]) -> set[str]:
    return {r.name for r in results if not r.passed}


# ---- parsing ----
def test_render_then_parse_round_trips() -> None:
    text = "Let me check.\n\n" + render_call("get_weather", {"city": "Oslo", "days": 2})
    calls, errors = parse_call_blocks(text)
    assert calls == [("get_weather", {"city": "Oslo", "days": 2})]
    assert errors == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>', "not valid JSON"),
        ('<tool_call>["get_weather"]</tool_call>', "not a JSON object"),
        ('<tool_call>{"arguments": {}}</tool_call>', "no API name"),
        ('<tool_call>{"name": "x", "arguments": "city=Oslo"}</tool_call>', "not a JSON object"),
        ('<tool_call>{"name": "get_weather", "arguments": {}}', "not closed"),
    ],
)
def test_malformed_blocks_are_reported(content: str, fragment: str) -> None:
    calls, errors = parse_call_blocks(content)
    assert not calls
    assert any(fragment in e for e in errors), errors


def test_extract_calls_keeps_turn_indexes() -> None:
    messages = [
        {"role": "system", "content": ""},
        user(),
        call("get_weather", {"city": "Oslo"}),
        tool("get_weather"),
        call("send_email", {"to": "a@b.c", "body": "4C"}),
    ]
    calls, errors = extract_calls(messages)
    assert [(c.turn, c.name) for c in calls] == [(2, "get_weather"), (4, "send_email")]
    assert not errors


# ---- one call against its spec ----
def test_valid_call_has_no_problem() -> None:
    assert validate_call("get_weather", {"city": "Oslo", "units": "metric", "days": 3}, APIS) == []


@pytest.mark.parametrize(
    ("name", "arguments", "kind"),
    [
        ("get_forecast", {"city": "Oslo"}, "unknown_api"),
        ("get_weather", {"units": "metric"}, "missing_required"),
        ("get_weather", {"city": "Oslo", "country": "NO"}, "superfluous"),
        ("get_weather", {"city": "Oslo", "days": "3"}, "bad_type"),
        ("get_weather", {"city": "Oslo", "days": True}, "bad_type"),
        ("get_weather", {"city": 12}, "bad_type"),
        ("get_weather", {"city": "Oslo", "units": "kelvin"}, "bad_enum"),
    ],
)
def test_invalid_calls_are_classified(name: str, arguments: dict[str, Any], kind: str) -> None:
    problems = validate_call(name, arguments, APIS)
    assert [p.kind for p in problems] == [kind]


@pytest.mark.parametrize(
    ("value", "json_type", "ok"),
    [
        (1, "integer", True),
        (1.5, "integer", False),
        (False, "integer", False),
        (1, "number", True),
        (True, "boolean", True),
        ([1], "array", True),
        ({"a": 1}, "object", True),
        ("x", "object", False),
        ("x", "nonsense", False),
    ],
)
def test_value_types(value: Any, json_type: str, ok: bool) -> None:
    assert value_has_type(value, json_type) is ok


# ---- turn classification ----
def test_clarification_and_refusal_cues() -> None:
    assert is_clarification("Which city do you mean?")
    assert not is_clarification("Which city?\n" + render_call("get_weather", {"city": "Oslo"}))
    assert is_refusal("Sorry, none of the available APIs can translate text.")
    assert is_refusal("I can't do that: there is no tool for refunds in the list.")
    assert not is_refusal("All done: everything has been taken care of.")
    assert not is_refusal("It is not raining in Oslo.")


# ---- whole transcripts ----
def test_good_multi_call_transcript_passes_every_check() -> None:
    messages = [
        {"role": "system", "content": ""},
        user(),
        call("get_weather", {"city": "Oslo"}, "Checking the weather first."),
        tool("get_weather"),
        call("send_email", {"to": "ana@example.com", "body": "It is 4C in Oslo."}),
        tool("send_email", '{"status": "success", "result": true}'),
        say("It is 4C in Oslo; I emailed Ana."),
    ]
    results = transcript_checks(messages, APIS)
    assert failing(results) == set()
    assert "skill.missing_api_handled" not in by_name(results)
    assert "skill.clarify_before_call" not in by_name(results)


def test_schema_violations_each_get_their_check() -> None:
    messages = [
        user(),
        call("get_weather", {"units": "kelvin", "country": "NO"}),
        tool("get_weather"),
        call("translate", {"text": "hi"}),
        tool("translate"),
        say("Done."),
    ]
    results = by_name(transcript_checks(messages, APIS))
    for name in ("api_exists", "required_params", "param_types", "no_superfluous_params"):
        assert not results[f"skill.{name}"].passed, name
    assert "translate" in results["skill.api_exists"].detail
    assert results["skill.call_format"].passed


def test_tool_turn_pairing() -> None:
    orphan = [user(), say("Let me see."), tool("get_weather"), say("4C.")]
    assert "skill.tool_turns" in failing(transcript_checks(orphan, APIS))
    unanswered = [user(), call("get_weather", {"city": "Oslo"}), say("4C.")]
    assert "skill.tool_turns" in failing(transcript_checks(unanswered, APIS))
    wrong_name = [user(), call("get_weather", {"city": "Oslo"}), tool("send_email"), say("4C.")]
    assert "skill.tool_turns" in failing(transcript_checks(wrong_name, APIS))


def test_transcript_must_end_with_an_answer_not_a_call() -> None:
    messages = [user(), call("get_weather", {"city": "Oslo"})]
    assert {"skill.final_answer", "skill.tool_turns"} <= failing(transcript_checks(messages, APIS))


def test_missing_api_case_needs_a_refusal_and_no_call_to_it() -> None:
    apis = [APIS[0]]
    refusal = [user(), say("Sorry, I can't send emails: no API for that is available to me.")]
    assert failing(transcript_checks(refusal, apis, absent_apis=["send_email"])) == set()

    partial = [
        user(),
        call("get_weather", {"city": "Oslo"}),
        tool("get_weather"),
        say("It is 4C in Oslo, but I cannot email it: there is no email tool in my list."),
    ]
    assert failing(transcript_checks(partial, apis, absent_apis=["send_email"])) == set()

    claims_success = [user(), say("All done, the email is on its way.")]
    assert failing(transcript_checks(claims_success, apis, absent_apis=["send_email"])) == {"skill.missing_api_handled"}

    fabricated = [
        user(),
        call("send_email", {"to": "ana@example.com", "body": "4C"}),
        tool("send_email"),
        say("I could not find a weather tool, so no forecast is available."),
    ]
    failed = failing(transcript_checks(fabricated, apis, absent_apis=["send_email"]))
    assert {"skill.api_exists", "skill.no_fabricated_calls", "skill.missing_api_handled"} <= failed


def test_missing_value_case_needs_a_question_before_the_call() -> None:
    missing = {"get_weather": ["city"]}
    asks = [user("What's the weather like?"), say("Which city should I check?")]
    assert failing(transcript_checks(asks, APIS, missing_params=missing)) == set()

    invents = [
        user("What's the weather like?"),
        call("get_weather", {"city": "Paris"}),
        tool("get_weather"),
        say("It is 4C in Paris."),
    ]
    failed = failing(transcript_checks(invents, APIS, missing_params=missing))
    assert {"skill.clarify_before_call", "skill.no_fabricated_calls"} <= failed

    skips = [
        user("What's the weather like?"),
        call("get_weather", {}),
        tool("get_weather"),
        say("Which city did you mean?"),
    ]
    failed = failing(transcript_checks(skips, APIS, missing_params=missing))
    assert {"skill.clarify_before_call", "skill.required_params"} <= failed
    assert "skill.no_fabricated_calls" not in failed


def test_missing_value_case_allows_calls_that_do_not_need_it() -> None:
    missing = {"send_email": ["to"]}
    messages = [
        user(),
        call("get_weather", {"city": "Oslo"}),
        tool("get_weather"),
        say("It is 4C in Oslo. Who should I email it to?"),
    ]
    assert failing(transcript_checks(messages, APIS, missing_params=missing)) == set()
