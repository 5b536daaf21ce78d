from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from agentinstruct.checks.tool_calls import parse_call_blocks, transcript_checks
from agentinstruct.llm.base import Role
from agentinstruct.skills import get_skill
from agentinstruct.skills.base import AgentOutputError, Calls, EditedItem, FlowConfig, StageContext
from agentinstruct.skills.tool_use import (
    CASE_CODES,
    CASES,
    MAX_CALLS,
    ApiSpec,
    ToolUseSkill,
    load_apis,
    plan_task,
)
from agentinstruct.stages import (
    MemoryDedup,
    refine_and_answer,
    suggest_instructions,
    transform_seed,
    validate_candidate,
)
from agentinstruct.testing.fake_llm import FakeLLM
from agentinstruct_schemas import Instruction, Lineage, Pair, Rejection, Seed, SeedSource, Transformed

CODE = '''\
def get_invoice(invoice_id: str, include_lines: bool = False) -> dict:
    """Fetch one invoice by its id."""
    return _db().get(invoice_id)


def pay_invoice(invoice_id: str, amount: float, currency: str = "EUR") -> dict:
    """Pay an invoice, fully or in part."""
    return _gateway().pay(invoice_id, amount, currency)


def _db():
    return None
'''

OTHER_CODE = '''\
def refund_payment(payment_id: str, reason: str = "") -> dict:
    """Refund a payment."""
'''


def param(name: str, type_: str, required: bool, enum: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "type": type_, "description": f"the {name}", "required": required, "enum": enum or []}


def draft(name: str, description: str, params: list[dict[str, Any]], returns_type: str = "object") -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": params,
        "returns_type": returns_type,
        "returns": f"what {name} gives back",
    }


GET_INVOICE = draft(
    "get_invoice",
    "Fetch one invoice by its id.",
    [param("invoice_id", "string", True), param("lines", "boolean", False)],
)
PAY_INVOICE = draft(
    "pay_invoice",
    "Pay an invoice, fully or in part.",
    [param("invoice_id", "string", True), param("amount", "number", True), param("currency", "string", False)],
)
SIBLINGS = [
    draft("list_invoices", "List recent invoices.", [param("limit", "integer", False)], "array"),
    draft(
        "export_invoices",
        "Export invoices to a file.",
        [param("file_format", "string", True, ["csv", "json"])],
        "string",
    ),
    draft("void_invoice", "Cancel an unpaid invoice.", [param("invoice_id", "string", True)], "boolean"),
]
LIBRARY = [GET_INVOICE, PAY_INVOICE, *SIBLINGS]


def seed_for(agent: str, kind: str = "code") -> Seed:
    skill = get_skill("tool_use")
    for n in range(200):
        seed = Seed(
            id=f"seed-{agent}-{n}",
            text=CODE,
            source=SeedSource(uri=f"repo/billing_{n}.py", kind=kind, language="python"),  # type: ignore[arg-type]
        )
        if skill.pick_transform_agents(seed)[0].name == agent:
            return seed
    raise AssertionError(f"no seed id maps to {agent}")


def user_text(call: Any) -> str:
    return "\n".join(m["content"] for m in call.messages)


def calls_to(llm: FakeLLM, prompt: str) -> list[Any]:
    return [c for c in llm.calls if c.prompt.split("@", 1)[0] == prompt]


def library_specs() -> list[ApiSpec]:
    from agentinstruct.skills.tool_use import ApiDraft, specs_from_drafts

    specs, rejected = specs_from_drafts([ApiDraft.model_validate(d) for d in LIBRARY])
    assert not rejected
    return specs


def lineage() -> Lineage:
    return Lineage(
        seed_id="seed-x",
        source=SeedSource(uri="repo/billing.py", kind="code", language="python"),
        skill="tool_use",
        split="tool_use",
        transform_agent="library_reconstruction",
    )


def transformed(specs: list[ApiSpec] | None = None) -> Transformed:
    specs = library_specs() if specs is None else specs
    return Transformed(
        id="tr-1",
        lineage=lineage(),
        content="API library",
        data={"apis": [s.as_dict() for s in specs], "expansion": "library_reconstruction"},
    )


def instruction_for(case: str, task: str, key: str = "tr-1") -> Instruction:
    plan = plan_task(library_specs(), case, key)
    return Instruction(
        id=f"ins-{case}",
        parent_id="tr-1",
        lineage=lineage().extended(instruction_type=case),
        context=json.dumps([a.as_dict() for a in plan.presented], indent=2),
        instruction=task,
        answer_key="expected behaviour",
        data=plan.data({"user_voice": "casual"}),
    )


def step(action: str, message: str, api: str = "", arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"action": action, "api": api, "arguments": json.dumps(arguments or {}), "message": message}


SUCCESS = {"status": "success", "result": json.dumps({"invoice_id": "A-17", "total": 120, "paid": False}), "error": ""}
NO_REFINE = FlowConfig(refine_rounds=0)


# ---- description ----
def test_describe_lists_agents_cases_and_goals() -> None:
    info = get_skill("tool_use").describe()
    assert info["name"] == "tool_use"
    assert info["split"] == "tool_use"
    assert info["transformation_agents"] == ["api_retrieval", "library_reconstruction"]
    assert info["subcategories"] == list(CASE_CODES)
    assert len(info["subcategories"]) == 7
    assert sorted(info["cases"].values()) == ["1a", "1b", "1c", "2a", "2b", "3", "4"]
    assert {"more_steps", "dependency_chain", "parallel_calls", "distractor_api", "change_of_plan"} <= set(
        info["refinement_goals"]
    )
    assert "code" in info["seed_kinds"]


def test_expansion_is_half_and_half_by_seed_id_and_stable() -> None:
    skill = get_skill("tool_use")
    picks = Counter()
    for n in range(300):
        seed = Seed(id=f"s{n}", text=CODE, source=SeedSource(uri="a.py", kind="code"))
        first = skill.pick_transform_agents(seed)
        assert [a.name for a in first] == [a.name for a in skill.pick_transform_agents(seed)]
        assert len(first) == 1
        picks[first[0].name] += 1
    assert 110 <= picks["api_retrieval"] <= 190, picks


def test_applies_to_code_and_api_documentation_only() -> None:
    skill = get_skill("tool_use")
    doc = "## Orders API\n\nGET /orders/{id}\n\nParameters: id (string). Returns the order as JSON."
    prose = "Rivers flood in spring when the snow melts in the mountains."
    assert skill.applies_to(Seed(id="a", text=CODE, source=SeedSource(uri="a.py", kind="code")))
    assert skill.applies_to(Seed(id="b", text=doc, source=SeedSource(uri="b.md", kind="markdown")))
    assert not skill.applies_to(Seed(id="c", text=prose, source=SeedSource(uri="c.txt", kind="text")))


# ---- transformation: code_to_api + library_reconstruction ----
async def test_library_reconstruction_renders_both_prompts_and_builds_the_list() -> None:
    seed = seed_for("library_reconstruction")
    llm = FakeLLM(
        replies={
            "tool_use/code_to_api": {"apis": [GET_INVOICE, PAY_INVOICE]},
            "tool_use/library_reconstruction": {"apis": SIBLINGS},
        }
    )
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm))
    assert not result.rejections
    assert len(result.outputs) == 1
    item = result.outputs[0]
    assert item.lineage.transform_agent == "library_reconstruction"

    code_prompt = user_text(calls_to(llm, "tool_use/code_to_api")[0])
    assert CODE.strip() in code_prompt
    assert "Functions found: get_invoice, pay_invoice" in code_prompt
    assert "Language: python" in code_prompt
    assert "{{" not in code_prompt and "{%" not in code_prompt
    recon_prompt = user_text(calls_to(llm, "tool_use/library_reconstruction")[0])
    assert '"name": "pay_invoice"' in recon_prompt
    assert "Do not reuse these names: get_invoice, pay_invoice" in recon_prompt
    assert "{{" not in recon_prompt

    apis = load_apis(item.data["apis"])
    names = [a.name for a in apis]
    assert names[:2] == ["get_invoice", "pay_invoice"]
    assert set(names[2:]) <= {"list_invoices", "export_invoices", "void_invoice"}
    assert len(apis) == len(item.data["apis"]) >= 3
    assert item.data["sources"]["get_invoice"] == "seed"
    assert item.data["sources"][names[-1]] == "hypothesized"
    assert apis[1].required() == ["invoice_id", "amount"]
    for name in names:
        assert name in item.content


async def test_malformed_specs_are_dropped_and_names_deduplicated() -> None:
    seed = seed_for("library_reconstruction")
    bad_enum = draft("set_priority", "Set a priority.", [param("level", "integer", True, ["high"])])
    bad_name = draft("get invoice!", "Broken name.", [])
    llm = FakeLLM(
        replies={
            "tool_use/code_to_api": {"apis": [GET_INVOICE, bad_enum, bad_name]},
            "tool_use/library_reconstruction": {
                "apis": [draft("Get_Invoice", "Same name, other case.", []), *SIBLINGS]
            },
        }
    )
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm))
    item = result.outputs[0]
    names = [a["name"] for a in item.data["apis"]]
    assert "set_priority" not in names
    assert len({n.lower() for n in names}) == len(names)
    rejected = " | ".join(item.data["rejected_specs"])
    assert "set_priority" in rejected and "get invoice!" in rejected and "duplicate" in rejected


async def test_no_valid_spec_is_a_rejection_with_its_reason() -> None:
    seed = seed_for("api_retrieval")
    llm = FakeLLM(replies={"tool_use/code_to_api": {"apis": [draft("1bad", "x", [])]}})
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["agent.unusable_output"]
    assert "no valid API spec" in result.rejections[0].detail


@pytest.mark.parametrize("agent", ["api_retrieval", "library_reconstruction"])
@pytest.mark.parametrize("prompt", ["tool_use/code_to_api", "tool_use/library_reconstruction"])
@pytest.mark.parametrize("raw", ["{not json", '{"apis": [{"name": "get_invoice", "descr'])
async def test_malformed_or_truncated_transform_output_is_rejected(agent: str, prompt: str, raw: str) -> None:
    seed = seed_for(agent)
    replies: dict[str, Any] = {
        "tool_use/code_to_api": {"apis": [GET_INVOICE]},
        "tool_use/library_reconstruction": {"apis": SIBLINGS},
    }
    replies[prompt] = raw
    llm = FakeLLM(replies=replies)
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm, tools=None))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid"]
    assert result.rejections[0].lineage.transform_agent == agent


# ---- transformation: api_retrieval ----
class FakeTools:
    def __init__(self, hits: list[dict[str, Any]], fail: bool = False) -> None:
        self.hits = hits
        self.fail = fail
        self.queries: list[str] = []

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        self.queries.append(query)
        if self.fail:
            raise RuntimeError("index offline")
        return self.hits[:k]

    async def call(self, name: str, arguments: str | dict[str, Any]) -> str:
        raise AssertionError("not used")

    def specs(self) -> list[dict[str, Any]]:
        return []


async def test_api_retrieval_turns_hits_from_other_documents_into_specs() -> None:
    seed = seed_for("api_retrieval")
    hits = [
        {"doc_id": f"{seed.id}:pay_invoice", "score": 9.0, "snippet": CODE, "metadata": {"seed_id": seed.id}},
        {"doc_id": "other-chunk", "score": 8.0, "snippet": CODE, "metadata": {"uri": seed.source.uri}},
        {"doc_id": "payments:refund_payment", "score": 5.0, "snippet": OTHER_CODE, "metadata": {"seed_id": "p"}},
    ]
    tools = FakeTools(hits)
    refund = draft("refund_payment", "Refund a payment.", [param("payment_id", "string", True)])
    llm = FakeLLM(replies={"tool_use/code_to_api": [{"apis": [GET_INVOICE, PAY_INVOICE]}, {"apis": [refund]}]})
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm, tools=tools))
    assert not result.rejections
    item = result.outputs[0]
    assert item.lineage.transform_agent == "api_retrieval"
    assert tools.queries and tools.queries[0].startswith("get invoice Fetch one invoice")
    prompts = calls_to(llm, "tool_use/code_to_api")
    assert len(prompts) == 2, "only the hit from another document is converted"
    assert OTHER_CODE.strip() in user_text(prompts[1])
    assert item.data["retrieved_documents"] == ["payments:refund_payment"]
    assert [a["name"] for a in item.data["apis"]] == ["get_invoice", "pay_invoice", "refund_payment"]
    assert item.data["sources"]["refund_payment"] == "payments:refund_payment"
    assert "fallback" not in item.data
    assert "tool_use/library_reconstruction" not in llm.prompts_called()


@pytest.mark.parametrize("tools", [None, FakeTools([], fail=True), FakeTools([])])
async def test_api_retrieval_falls_back_to_reconstruction(tools: FakeTools | None) -> None:
    seed = seed_for("api_retrieval")
    llm = FakeLLM(
        replies={
            "tool_use/code_to_api": {"apis": [GET_INVOICE]},
            "tool_use/library_reconstruction": {"apis": SIBLINGS},
        }
    )
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm, tools=tools))
    item = result.outputs[0]
    assert item.data["fallback"].startswith("library_reconstruction")
    assert item.data["expansion"] == "api_retrieval"
    assert len(item.data["apis"]) == 4
    assert "tool_use/library_reconstruction" in llm.prompts_called()
    if tools is not None and tools.fail:
        assert "index offline" in item.data["retrieval_errors"][0]


async def test_api_retrieval_uses_the_search_tool_call_when_the_port_has_no_search_method() -> None:
    from agentinstruct.tools.search import SearchIndex, extract_code_units
    from agentinstruct.tools.toolbox import Toolbox

    seed = seed_for("api_retrieval")
    index = SearchIndex()
    for name, unit in extract_code_units(OTHER_CODE, "python"):
        index.add(f"payments:{name}", unit, {"seed_id": "payments", "uri": "payments.py"})
    refund = draft("refund_payment", "Refund a payment.", [param("payment_id", "string", True)])
    llm = FakeLLM(replies={"tool_use/code_to_api": [{"apis": [PAY_INVOICE, GET_INVOICE]}, {"apis": [refund]}]})
    result = await transform_seed(seed, [get_skill("tool_use")], StageContext(llm=llm, tools=Toolbox(index)))  # type: ignore[arg-type]
    item = result.outputs[0]
    assert item.data["retrieved_documents"] == ["payments:refund_payment"]
    assert "refund_payment" in [a["name"] for a in item.data["apis"]]


# ---- seed instructions ----
def test_candidate_types_follow_the_api_list() -> None:
    skill = get_skill("tool_use")
    specs = library_specs()
    no_required = [s for s in specs if not s.required()]
    assert [t.name for t in skill.candidate_types(transformed(no_required[:1]))] == [
        "single_api_all_params",
        "single_api_superfluous_params",
    ]
    two = {t.name for t in skill.candidate_types(transformed(specs[:2]))}
    assert "multi_api_essential_missing" not in two and "single_api_not_in_list" in two
    assert len(skill.candidate_types(transformed())) == 7
    assert skill.candidate_types(transformed([])) == ()


def test_task_plans_are_deterministic_and_consistent() -> None:
    specs = library_specs()
    for case in CASE_CODES:
        assert plan_task(specs, case, "k1") == plan_task(specs, case, "k1")
    needed = {tuple(plan_task(specs, "multi_api_all_params", f"k{n}").needed) for n in range(20)}
    assert len(needed) > 1


@pytest.mark.parametrize("itype", CASES, ids=lambda t: t.name)
async def test_each_case_prompt_renders_and_records_its_plan(itype: Any) -> None:
    skill = get_skill("tool_use")
    item = transformed()
    params = {slot: list(choices)[-1] for slot, choices in itype.params.items()}
    llm = FakeLLM(
        replies={
            "tool_use/suggest": {
                "tasks": [
                    {"task": "Please check invoice A-17 and pay 120 EUR of it.", "expected": "get, then pay"},
                    {"task": "Could you settle invoice B-2 in full?", "expected": "pay"},
                ]
            }
        }
    )
    drafts = await skill.suggest(item, itype, params, StageContext(llm=llm), Calls())
    prompt = user_text(llm.calls[0])
    assert llm.calls[0].role == Role.SUGGEST
    for text in (itype.name, itype.description, itype.answer_format, *params.values()):
        assert text in prompt
    assert "{{" not in prompt and "{%" not in prompt
    assert len(drafts) == 2
    data = drafts[0].data
    assert data["case"] == itype.name
    assert data["case_code"] == CASE_CODES[itype.name]
    assert data["params"] == params
    presented = {a["name"] for a in data["apis"]}
    assert json.loads(drafts[0].context) == data["apis"]
    assert drafts[0].answer_key == "get, then pay"
    assert data["needed_apis"]
    for name in data["needed_apis"]:
        if name not in data["absent_apis"]:
            assert name in presented
            assert f"- {name}:" in prompt
    code = CASE_CODES[itype.name]
    if code in ("3", "4"):
        assert len(data["absent_apis"]) == 1
        (gone,) = data["absent_apis"]
        assert gone in data["needed_apis"] and gone not in presented
        assert gone not in prompt, "the task writer sees the need, not the missing API's name"
        assert "does NOT have" in prompt
    else:
        assert data["absent_apis"] == []
        assert presented == {s.name for s in library_specs()}
    if code in ("1c", "2b"):
        ((api, missing),) = data["missing_params"].items()
        spec = next(s for s in library_specs() if s.name == api)
        assert api in data["needed_apis"] and set(missing) <= set(spec.required())
        assert f"Do NOT give any value for {api}.{missing[0]}" in prompt
    else:
        assert data["missing_params"] == {}
    if code.startswith("1") or code == "3":
        assert len(data["needed_apis"]) == 1
    else:
        assert len(data["needed_apis"]) >= 2


@pytest.mark.parametrize("raw", ["not json at all", '{"tasks": [{"task": "Pay invoice A-17'])
async def test_malformed_or_truncated_suggestions_are_rejected(raw: str) -> None:
    llm = FakeLLM(replies={"tool_use/suggest": raw})
    result = await suggest_instructions(transformed(), get_skill("tool_use"), StageContext(llm=llm))
    assert not result.outputs
    assert result.rejections
    assert {r.reason for r in result.rejections} == {"llm.schema_invalid"}
    assert all(r.subcategory in CASE_CODES for r in result.rejections)


# ---- teacher ----
async def test_teacher_builds_a_multi_turn_transcript_with_simulated_results() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_all_params", "Is invoice A-17 paid? It should be 120 EUR.")
    api = item.data["needed_apis"][0]
    spec = next(s for s in library_specs() if s.name == api)
    arguments = {p: ("A-17" if spec.parameters[p].type == "string" else 120) for p in spec.required()}
    llm = FakeLLM(
        replies={
            "tool_use/teacher": [
                step("call", "Let me look that up.", api, arguments),
                step("final", "Invoice A-17 totals 120 and is not paid yet."),
            ],
            "tool_use/simulate": SUCCESS,
        }
    )
    result = await refine_and_answer(item, skill, StageContext(llm=llm, config=NO_REFINE))
    assert not result.rejections
    (candidate,) = result.outputs
    roles = [m.role for m in candidate.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    user_turn = candidate.messages[1].content
    assert user_turn.startswith("You can use these APIs:\n[")
    assert item.instruction in user_turn and f'"name": "{api}"' in user_turn
    assert "{{" not in user_turn and "}}" not in user_turn
    calls, errors = parse_call_blocks(candidate.messages[2].content)
    assert calls == [(api, arguments)] and not errors
    assert candidate.messages[2].content.startswith("Let me look that up.")
    assert candidate.messages[3].name == api
    assert json.loads(candidate.messages[3].content) == {"status": "success", "result": json.loads(SUCCESS["result"])}
    assert candidate.messages[4].content == "Invoice A-17 totals 120 and is not paid yet."
    assert candidate.data["final_action"] == "final" and candidate.data["calls"] == 1

    first, second = (user_text(c) for c in calls_to(llm, "tool_use/teacher"))
    assert "No calls yet." in first and item.instruction in first and '"name": "pay_invoice"' in first
    assert "{{" not in first and "{%" not in first
    assert f"Call 1: {api} {json.dumps(arguments)}" in second and "Result 1:" in second
    simulate = user_text(calls_to(llm, "tool_use/simulate")[0])
    assert f"Call arguments: {json.dumps(arguments)}" in simulate and f'"name": "{api}"' in simulate
    assert ("This call fails" in simulate) != ("This call succeeds" in simulate)

    verdict = await validate_candidate(
        candidate,
        skill,
        StageContext(llm=FakeLLM(replies={"common/judge": {"score": 5, "reason": "ok"}})),
        MemoryDedup(),
    )
    assert isinstance(verdict, Pair), verdict
    assert {c.name for c in verdict.checks} >= {"skill.api_exists", "skill.required_params", "skill.param_types"}


async def test_teacher_invalid_call_is_sent_back_with_the_problem() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_superfluous_params", "Void invoice A-9, it was a typo. I like tea.")
    llm = FakeLLM(
        replies={
            "tool_use/teacher": [
                step("call", "", "void_invoice", {"invoice_id": "A-9", "mood": "tea"}),
                step("call", "", "void_invoice", {"invoice_id": "A-9"}),
                step("final", "Invoice A-9 is now cancelled."),
            ],
            "tool_use/simulate": {"status": "success", "result": "true", "error": ""},
        }
    )
    result = await refine_and_answer(item, skill, StageContext(llm=llm, config=NO_REFINE))
    (candidate,) = result.outputs
    second = user_text(calls_to(llm, "tool_use/teacher")[1])
    assert "Your previous step was rejected" in second and "void_invoice has no parameter mood" in second
    assert candidate.data["retries"] == 1
    assert [c for c, _ in parse_call_blocks(candidate.messages[2].content)[0]] == ["void_invoice"]
    assert "mood" not in candidate.messages[2].content


async def test_teacher_that_keeps_making_invalid_calls_is_rejected() -> None:
    item = instruction_for("single_api_all_params", "Show me invoice A-1.")
    llm = FakeLLM(replies={"tool_use/teacher": step("call", "", "no_such_api", {"x": 1})})
    result = await refine_and_answer(item, get_skill("tool_use"), StageContext(llm=llm, config=NO_REFINE))
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["agent.unusable_output"]
    assert "no_such_api is not in the API list" in result.rejections[0].detail


async def test_teacher_clarifies_when_a_required_value_is_missing() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_missing_params", "Please take care of that invoice for me.")
    ((api, (missing,)),) = item.data["missing_params"].items()
    llm = FakeLLM(replies={"tool_use/teacher": step("clarify", f"Sure - which {missing} should I use?")})
    result = await refine_and_answer(item, skill, StageContext(llm=llm, config=NO_REFINE))
    (candidate,) = result.outputs
    prompt = user_text(llm.calls[0])
    assert f"The user has not given a value for {missing} ({api})" in prompt
    assert "Ask the user for a missing required value" in prompt
    assert [m.role for m in candidate.messages] == ["system", "user", "assistant"]
    assert "tool_use/simulate" not in llm.prompts_called()
    judge = FakeLLM(replies={"common/judge": {"score": 4, "reason": "asks"}})
    assert isinstance(await validate_candidate(candidate, skill, StageContext(llm=judge), MemoryDedup()), Pair)


async def test_teacher_is_told_about_the_absent_api_and_a_refusal_passes() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_not_in_list", "Please do the thing I need with my invoices.")
    (gone,) = item.data["absent_apis"]
    llm = FakeLLM(
        replies={
            "tool_use/teacher": step("refuse", "I'm sorry, none of the available APIs can do that."),
            "common/judge": {"score": 4, "reason": "ok"},
        }
    )
    ctx = StageContext(llm=llm, config=NO_REFINE)
    (candidate,) = (await refine_and_answer(item, skill, ctx)).outputs
    prompt = user_text(llm.calls[0])
    assert f"needs an API that is not in the list ({gone})" in prompt
    assert f'"name": "{gone}"' not in prompt
    assert isinstance(await validate_candidate(candidate, skill, ctx, MemoryDedup()), Pair)


async def test_teacher_is_stopped_after_the_call_limit() -> None:
    item = instruction_for("multi_api_all_params", "List my invoices and export them every way you can.")
    counter = iter(range(100))

    def script(role: Role, messages: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
        text = messages[-1]["content"]
        if prompt.startswith("tool_use/simulate"):
            return SUCCESS
        if "this step must be final" in text:
            return step("final", "Here are all the results I got.")
        return step("call", "", "list_invoices", {"limit": next(counter) + 1})

    llm = FakeLLM(script=script)
    result = await refine_and_answer(item, get_skill("tool_use"), StageContext(llm=llm, config=NO_REFINE))
    (candidate,) = result.outputs
    assert candidate.data["calls"] == MAX_CALLS
    assert [m.role for m in candidate.messages[2:]] == ["assistant", "tool"] * MAX_CALLS + ["assistant"]


async def test_simulated_errors_become_error_tool_turns() -> None:
    item = instruction_for("single_api_all_params", "Export my invoices as csv.")
    llm = FakeLLM(
        replies={
            "tool_use/teacher": [
                step("call", "", "export_invoices", {"file_format": "csv"}),
                step("final", "The export failed because the quota is exceeded; please retry later."),
            ],
            "tool_use/simulate": {"status": "error", "result": "", "error": "quota exceeded"},
        }
    )
    (candidate,) = (
        await refine_and_answer(item, get_skill("tool_use"), StageContext(llm=llm, config=NO_REFINE))
    ).outputs
    assert json.loads(candidate.messages[3].content) == {"status": "error", "error": "quota exceeded"}
    assert candidate.data["steps"][0]["tool_error"] is True


@pytest.mark.parametrize("prompt", ["tool_use/teacher", "tool_use/simulate"])
@pytest.mark.parametrize("raw", ["<html>oops</html>", '{"action": "call", "api": "get_inv'])
async def test_malformed_or_truncated_teacher_output_is_rejected(prompt: str, raw: str) -> None:
    item = instruction_for("single_api_all_params", "Show me invoice A-1.")
    replies: dict[str, Any] = {
        "tool_use/teacher": step("call", "", "list_invoices", {}),
        "tool_use/simulate": SUCCESS,
    }
    replies[prompt] = raw
    result = await refine_and_answer(
        item, get_skill("tool_use"), StageContext(llm=FakeLLM(replies=replies), config=NO_REFINE)
    )
    assert not result.outputs
    assert [r.reason for r in result.rejections] == ["llm.schema_invalid"]
    assert result.rejections[0].stage == "refine"


# ---- refinement ----
def test_editor_may_add_a_distractor_api_but_not_undo_the_case() -> None:
    skill = ToolUseSkill.__new__(ToolUseSkill)
    item = instruction_for("single_api_not_in_list", "Do the thing.")
    (gone,) = item.data["absent_apis"]
    apis = json.loads(item.context)
    distractor = {
        "name": "get_invoices",
        "description": "Fetch several invoices at once.",
        "parameters": {"ids": {"type": "array", "description": "invoice ids", "required": True}},
        "returns": {"type": "array", "description": "the invoices"},
    }
    edited = skill.apply_edit(
        item, EditedItem(context=json.dumps([*apis, distractor]), instruction="Harder.", answer="x"), "distractor_api"
    )
    assert "get_invoices" in [a["name"] for a in edited.data["apis"]]
    assert edited.data["api_list_edited"] is True and edited.data["refinement_goal"] == "distractor_api"
    assert edited.data["absent_apis"] == [gone] and json.loads(edited.context) == edited.data["apis"]

    spec = next(s for s in library_specs() if s.name == gone)
    readded = skill.apply_edit(
        item, EditedItem(context=json.dumps([*apis, spec.as_dict()]), instruction="Harder.", answer="x"), "more_steps"
    )
    assert gone not in [a["name"] for a in readded.data["apis"]]
    garbage = skill.apply_edit(item, EditedItem(context="no JSON here", instruction="Hm.", answer=""), "more_steps")
    assert garbage.data["apis"] == item.data["apis"] and garbage.data["api_list_edited"] is False
    assert garbage.answer_key is None
    with pytest.raises(AgentOutputError):
        skill.apply_edit(item, EditedItem(context=item.context, instruction="  ", answer="x"), "more_steps")


async def test_refined_variants_keep_the_plan_and_the_seed_item() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_missing_params", "Pay that invoice please.")
    llm = FakeLLM(
        replies={
            "common/refine_suggest": {"suggestions": [{"goal": "user_constraints", "suggestion": "add a budget"}]},
            "common/refine_edit": {
                "context": item.context,
                "instruction": "Pay that invoice, but never more than 50 EUR.",
                "answer": "ask",
            },
            "tool_use/teacher": step("clarify", "Which invoice do you mean?"),
        }
    )
    config = FlowConfig(refine_rounds=1, suggestions_per_round=1)
    result = await refine_and_answer(item, skill, StageContext(llm=llm, config=config))
    assert not result.rejections
    assert len(result.outputs) == 2
    refined = next(c for c in result.outputs if c.lineage.refinement_path)
    assert refined.lineage.refinement_path == ["user_constraints"]
    assert refined.instruction.data["missing_params"] == item.data["missing_params"]
    assert "never more than 50 EUR" in refined.messages[1].content
    suggester = user_text(calls_to(llm, "common/refine_suggest")[0])
    assert "distractor_api" in suggester and "You can use these APIs" in suggester


# ---- checks through the validate stage ----
async def test_fabricated_value_is_rejected_by_the_skill_checks() -> None:
    skill = get_skill("tool_use")
    item = instruction_for("single_api_missing_params", "Please take care of that invoice for me.")
    ((api, (missing,)),) = item.data["missing_params"].items()
    spec = next(s for s in library_specs() if s.name == api)
    arguments = {p: ("X-1" if spec.parameters[p].type == "string" else 3) for p in spec.required()}
    llm = FakeLLM(
        replies={
            "tool_use/teacher": [step("call", "", api, arguments), step("final", "Done.")],
            "tool_use/simulate": SUCCESS,
            "common/judge": {"score": 5, "reason": "looks fine"},
        }
    )
    ctx = StageContext(llm=llm, config=NO_REFINE)
    (candidate,) = (await refine_and_answer(item, skill, ctx)).outputs
    verdict = await validate_candidate(candidate, skill, ctx, MemoryDedup())
    assert isinstance(verdict, Rejection)
    assert verdict.reason == "skill.no_fabricated_calls"
    assert missing in verdict.detail
    assert "common/judge" not in llm.prompts_called(), "a failed skill check costs no judge call"


# ---- the mock responders ----
def responder_llm() -> FakeLLM:
    import agentinstruct.testing.responders  # noqa: F401
    from agentinstruct.testing.mock_server import RESPONDERS, ChatRequest

    def script(role: Role, messages: list[dict[str, Any]], prompt: str) -> Any:
        name = prompt.split("@", 1)[0]
        if name == "common/judge":
            return {"score": 4, "reason": "fine"}
        if name == "common/refine_suggest":
            return {"suggestions": [{"goal": "more_steps", "suggestion": "add a step"}]}
        if name == "common/refine_edit":
            return {"context": "", "instruction": "Please also list my invoices afterwards.", "answer": ""}
        rng = random.Random(json.dumps(messages, sort_keys=True))
        return RESPONDERS[name](ChatRequest.from_body({"messages": messages}, prompt), rng)

    return FakeLLM(script=script)


async def test_mock_responders_produce_valid_transcripts_and_visible_failures() -> None:
    skill = get_skill("tool_use")
    llm = responder_llm()
    outcomes: Counter[str] = Counter()
    for n in range(10):
        seed = Seed(id=f"mock-{n}", text=CODE, source=SeedSource(uri=f"m{n}.py", kind="code", language="python"))
        ctx = StageContext(llm=llm, config=FlowConfig(max_instructions_per_type=1, suggestions_per_round=1))
        transformed_items = await transform_seed(seed, [skill], ctx)
        assert not transformed_items.rejections
        for item in transformed_items.outputs:
            for instruction in (await suggest_instructions(item, skill, ctx)).outputs:
                answered = await refine_and_answer(instruction, skill, ctx)
                outcomes.update(r.reason for r in answered.rejections)
                for candidate in answered.outputs:
                    verdict = await validate_candidate(candidate, skill, ctx, MemoryDedup())
                    if isinstance(verdict, Pair):
                        outcomes["pair"] += 1
                        data = candidate.instruction.data
                        checks = transcript_checks(
                            [m.model_dump() for m in verdict.messages],
                            data["apis"],
                            absent_apis=data["absent_apis"],
                            missing_params=data["missing_params"],
                        )
                        assert all(c.passed for c in checks)
                    else:
                        outcomes[verdict.reason] += 1
    assert outcomes["pair"] >= 10, outcomes
    assert any(reason.startswith("skill.") for reason in outcomes), outcomes
