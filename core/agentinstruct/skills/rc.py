"""Reading comprehension (`rc`): passages in nine forms, 45 question types, MCQ-aware refinement and checks.

Flow (AgentInstruct §2.1, this project's method doc §8.2):
  transform  -> one of the paper's nine transformation agents, picked per seed (deterministic by seed id),
                rewrites the seed into a passage with its own output contract (an argument with an optional
                planted logical gap, a debate, a conversation, a meeting transcript, a poem, satire, an
                instructional text, a longer text, or the seed unchanged);
  suggest    -> the transformation agent decides which question types may run (`QUESTION_SUBSETS`); each
                chosen type's agent writes 1-3 questions (`RCQuestionBatch`: question, options, key);
  refine     -> Suggester tags edits HARDER / FLIP / UNANSWERABLE; the Editor returns the full new passage,
                question, options and key (`RCEditedItem`), which `apply_rc_edit` keeps coherent;
                UNANSWERABLE edits are kept only at a low, id-seeded rate (`UNANSWERABLE_KEEP_RATE`);
  teacher    -> step-by-step reasoning quoting the passage, then a final line `Answer: (C)` (MCQ) or
                `Answer: <short answer>`; essays are the essay itself;
  check      -> structure (MCQ key among 4-5 options, parsable final line), the assistant's answer against
                the key, then a separate teacher-role re-answer (`rc/reanswer`, which sees neither the key nor
                the first answer) that must agree with the key and with the assistant, or, for unanswerable
                items, must say that the passage does not support an answer.

The paper names 14 of its 43 question types; the other 31 here come from the method doc's candidate list
(LSAT logical reasoning and reading comprehension, DROP-like discrete reasoning, and a few others).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import (
    AgentOutputError,
    Calls,
    Draft,
    EditedItem,
    IdentityAgent,
    InstructionType,
    RefinementGoal,
    Skill,
    StageContext,
    TeacherAnswer,
    TransformAgent,
    TransformOutput,
    rng_for,
)
from agentinstruct.skills.registry import register
from agentinstruct_schemas import Candidate, CheckResult, Instruction, Seed, Transformed

LETTERS = "ABCDE"
UNANSWERABLE_KEY = "not answerable"
UNANSWERABLE_TEXT = "The passage does not provide enough information to answer this question."

HARDER = "HARDER"
FLIP = "FLIP"
UNANSWERABLE = "UNANSWERABLE"

# The method doc asks for about 5-10% unanswerable items. With the default flow (1 round, 2 suggestions per
# item, the seed item kept) an item yields 3 candidates; if about a third of the suggestions are tagged
# UNANSWERABLE, keeping each with probability 0.25 gives 2 * 1/3 * 0.25 / 2.5 ≈ 6.7% unanswerable items.
# The draw is seeded by the item id and the suggestion index, so replays keep or drop the same edits.
UNANSWERABLE_KEEP_RATE = 0.25


class AnswerKind(StrEnum):
    """How a question is answered, and so how its answers are compared."""

    MCQ = "mcq"  # one option letter
    SHORT = "short"  # a phrase or a short list: loose token overlap
    NUMBER = "number"  # a number: numeric equality
    LABELS = "labels"  # a sequence of labels (True/False, Fact/Opinion): exact sequence
    ORDER = "order"  # a sequence of item numbers: exact sequence
    MATCH = "match"  # pairs like 1-B: exact set
    OPEN = "open"  # a short free answer (summary): no single correct wording, agreement not checked
    ESSAY = "essay"  # an essay: no final answer line, agreement not checked


CLOSED_KINDS = frozenset(
    {AnswerKind.MCQ, AnswerKind.SHORT, AnswerKind.NUMBER, AnswerKind.LABELS, AnswerKind.ORDER, AnswerKind.MATCH}
)
# Kinds for which "the passage does not say" is a natural answer; ordering a list or labelling given statements
# always has an answer, and open or essay questions are about the passage as a whole.
UNANSWERABLE_KINDS = frozenset({AnswerKind.MCQ, AnswerKind.SHORT, AnswerKind.NUMBER})

ANSWER_HINTS: Mapping[AnswerKind, str] = {
    AnswerKind.MCQ: "the letter of the correct option only, e.g. C",
    AnswerKind.SHORT: "the short answer only: a word, a phrase, or a list separated by semicolons",
    AnswerKind.NUMBER: "the number only, with its unit if it has one, e.g. 12 years",
    AnswerKind.LABELS: "the labels in order, separated by commas, e.g. True, False",
    AnswerKind.ORDER: "the item numbers in the correct order, separated by commas, e.g. 3, 1, 4, 2",
    AnswerKind.MATCH: "every pair as number-letter, separated by commas, e.g. 1-B, 2-A, 3-C",
    AnswerKind.OPEN: "the answer in one to three sentences",
    AnswerKind.ESSAY: "the complete essay",
}


# ----
# Transformation agents
# ----
_SPEAKER_RE = re.compile(r"^[ \t>*_-]*([A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3})[*_]*(?: \([^)\n]{1,40}\))?[*_]*:", re.M)


@dataclass(frozen=True, slots=True)
class PassageAgent:
    """A transformation agent with its own prompt (`rc/transform_<name>`), parameters and output contract.

    Parameters are drawn per seed from `params` (deterministic by seed id) and rendered into the prompt; the
    contract fields are checked on the output, which is rejected (`AgentOutputError`) when it misses them.
    """

    name: str
    description: str
    contract: str
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)
    min_chars: int = 400
    min_lines: int = 0
    min_speakers: int = 0
    min_length_ratio: float = 0.0

    @property
    def prompt(self) -> str:
        return f"rc/transform_{self.name}"

    @property
    def prompt_version(self) -> str:
        return load_prompt(self.prompt).ref

    def choose_params(self, seed: Seed) -> dict[str, str]:
        rng = rng_for(seed.id, "rc", self.name, "params")
        return {slot: rng.choice(list(choices)) for slot, choices in self.params.items()}

    def render(self, seed: Seed, skill: Skill) -> list[dict[str, str]]:
        words = len(seed.text.split())
        return load_prompt(self.prompt).render(
            seed=seed.text, agent=self, skill=skill, params=self.choose_params(seed), seed_words=words
        )

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        template = load_prompt(self.prompt)
        params = self.choose_params(seed)
        result = await ctx.llm.generate(
            Role.TRANSFORM, self.render(seed, skill), _TransformedPassage, prompt=template.ref
        )
        calls.add(result.record)
        text = result.parsed.text.strip()
        self.check_contract(seed, text)
        return [TransformOutput(content=text, data={"title": result.parsed.title.strip(), "params": params})]

    def check_contract(self, seed: Seed, text: str) -> None:
        if len(text) < self.min_chars:
            raise AgentOutputError(f"{self.name} wrote {len(text)} characters, fewer than {self.min_chars}")
        if self.min_lines:
            lines = sum(1 for line in text.splitlines() if line.strip())
            if lines < self.min_lines:
                raise AgentOutputError(f"{self.name} wrote {lines} lines, fewer than {self.min_lines}")
        if self.min_speakers:
            speakers = set(_SPEAKER_RE.findall(text))
            if len(speakers) < self.min_speakers:
                raise AgentOutputError(
                    f"{self.name} has {len(speakers)} labelled speakers, fewer than {self.min_speakers}"
                )
        if self.min_length_ratio and len(text) < self.min_length_ratio * len(seed.text.strip()):
            raise AgentOutputError(
                f"{self.name} wrote {len(text)} characters, less than {self.min_length_ratio}x the seed's "
                f"{len(seed.text.strip())}"
            )


class _TransformedPassage(BaseModel):
    title: str = Field(description="a short title for the passage, a few words")
    text: str = Field(description="the full passage, and nothing else")


NO_GAP = "none"
GAP_KINDS = (
    "causal leap: it treats a correlation or a sequence of events as proof that one thing causes the other",
    "sampling bias: it generalizes from a sample that may not represent the whole group",
    "equivocation: a key word is used in one sense in a premise and in another sense in the conclusion",
    "false dichotomy: it presents two options as the only possible ones when others exist",
)

PASSAGE_AGENTS: tuple[PassageAgent, ...] = (
    PassageAgent(
        name="argument",
        description="an argument passage for one conclusion, sometimes with one planted logical gap",
        contract="250-450 words, one main conclusion, 2-4 premises; about 40% carry one subtle logical gap",
        # Six of ten draws plant no gap: about 40% of the passages carry one, as the method doc suggests.
        params={"gap": (NO_GAP,) * 6 + GAP_KINDS, "voice": ("an expert", "an editorial writer", "a researcher")},
        min_chars=600,
    ),
    PassageAgent(
        name="debate",
        description="a moderated debate transcript with opening statements and rebuttals",
        contract="2-4 named speakers and a moderator; each side makes an explicit claim backed by evidence",
        params={
            "debaters": ("2", "3", "4"),
            "setting": ("a televised debate", "a university debate", "a town-hall debate", "a conference panel"),
        },
        min_chars=600,
        min_speakers=3,
    ),
    PassageAgent(
        name="conversation",
        description="an informal dialogue whose facts are spread across the turns",
        contract="2-3 speakers, informal; the facts of the source are spread across turns",
        params={
            "speakers": ("2", "3"),
            "setting": ("over coffee", "on a phone call", "during a walk", "in a study group", "at a family dinner"),
        },
        min_chars=400,
        min_speakers=2,
    ),
    PassageAgent(
        name="meeting_transcript",
        description="a meeting transcript with agenda items, decisions and action items with owners and dates",
        contract="speaker labels, agenda items, decisions, and action items with owners and due dates",
        params={
            "meeting": (
                "a project team meeting",
                "a city council committee meeting",
                "a school board meeting",
                "a research group meeting",
                "a non-profit board meeting",
            )
        },
        min_chars=500,
        min_speakers=2,
    ),
    PassageAgent(
        name="poem",
        description="a poem that keeps at least three concrete facts of the source",
        contract="12-30 lines keeping 3 or more concrete facts of the source; figurative language",
        params={
            "form": ("free verse", "rhymed quatrains", "blank verse", "ballad stanzas"),
            "lines": ("12", "16", "20", "24"),
        },
        min_chars=200,
        min_lines=10,
    ),
    PassageAgent(
        name="satirical",
        description="satire on the source's topic that exaggerates one position",
        contract="keeps the topic and its facts but exaggerates one position; irony the reader must detect",
        params={
            "style": ("a mock news report", "a mock opinion column", "a fake press release", "a spoof advice column")
        },
        min_chars=400,
    ),
    PassageAgent(
        name="instructional",
        description="an instruction manual section with prerequisites, numbered steps and warnings",
        contract="prerequisites, numbered steps and at least one warning, all grounded in the source",
        params={"form": ("a how-to guide", "a user manual section", "a lab procedure", "a training handout")},
        min_chars=400,
        min_lines=5,
    ),
    PassageAgent(
        name="long_text",
        description="a longer version of the source with related facts, numbers and dates added",
        contract="1.5-3x the source length, adding related facts including numbers and dates",
        params={"ratio": ("1.5", "2", "2.5", "3")},
        min_chars=600,
        min_length_ratio=1.2,
    ),
)

IDENTITY = IdentityAgent()

# How the question writer is told what kind of passage it reads.
PASSAGE_FORMS: Mapping[str, str] = {
    "argument": "an argument",
    "debate": "a debate transcript",
    "conversation": "a conversation",
    "meeting_transcript": "a meeting transcript",
    "poem": "a poem",
    "satirical": "a satirical piece",
    "instructional": "an instructional text",
    "long_text": "an informational text",
    "identity": "an informational text",
}


# ----
# Question types
# ----
@dataclass(frozen=True, slots=True)
class RCType(InstructionType):
    """A question type: its agent's brief, answer format, answer kind, and option count for MCQ types."""

    kind: AnswerKind = AnswerKind.MCQ
    n_options: int = 0


def _lsat(name: str, description: str, stems: Sequence[str], example: str = "") -> RCType:
    return RCType(
        name=name,
        description=description,
        answer_format="multiple choice, 5 options (A-E), one correct",
        params={"stem": tuple(stems)},
        example=example,
        kind=AnswerKind.MCQ,
        n_options=5,
    )


def _mcq4(name: str, description: str, params: Mapping[str, Sequence[str]], example: str = "") -> RCType:
    return RCType(
        name=name,
        description=description,
        answer_format="multiple choice, 4 options (A-D), one correct",
        params=params,
        example=example,
        kind=AnswerKind.MCQ,
        n_options=4,
    )


PAPER_TYPES: tuple[RCType, ...] = (
    RCType(
        name="literal_comprehension",
        description="A question about a detail the passage states explicitly (who, what, when, where, which); "
        "the answer is a short phrase or a short list taken from the passage.",
        answer_format="short answer or list",
        params={
            "focus": (
                "a person, group or organization",
                "a date, time or quantity",
                "a place",
                "a reason the passage states",
                "several items the passage lists together",
            )
        },
        example="According to the passage, which two materials were used for the first prototype?",
        kind=AnswerKind.SHORT,
    ),
    RCType(
        name="numerical_discrete_reasoning",
        description="A question that needs arithmetic over two or more numbers or dates stated in different "
        "places of the passage (add, subtract, compare, count), as in the DROP benchmark.",
        answer_format="reasoning, then a number",
        params={
            "operation": (
                "a difference",
                "a sum",
                "how many more or fewer",
                "a percentage or ratio",
                "the time elapsed between two dates",
            )
        },
        example="How many more members did the club have in 2019 than at its founding?",
        kind=AnswerKind.NUMBER,
    ),
    RCType(
        name="critical_comprehension",
        description="Two numbered statements about the author's purpose or a viewpoint in the passage, exactly "
        "one true and one false; the student labels each statement True or False.",
        answer_format="true/false for each statement, in order",
        params={"about": ("the author's purpose", "a viewpoint expressed in the passage", "the author's attitude")},
        example="Statement 1: The author wants to warn readers about X. Statement 2: The author argues that Y "
        "is harmless. Label each statement True or False.",
        kind=AnswerKind.LABELS,
    ),
    RCType(
        name="evaluative_comprehension",
        description="An open-ended essay question asking the student to analyze a theme of the passage or to "
        "evaluate how effective its argument or presentation is, using evidence from the passage.",
        answer_format="essay",
        params={
            "focus": ("a central theme", "the strength of the argument", "the use of evidence", "the choice of form"),
            "length": ("two paragraphs", "three paragraphs", "about 200 words"),
        },
        example="In two paragraphs, evaluate how convincingly the passage supports its claim about X.",
        kind=AnswerKind.ESSAY,
    ),
    RCType(
        name="vocabulary_in_context",
        description="A sentence based on the passage with one word or short phrase replaced by a blank "
        "(____); the student fills in the word that fits the meaning the passage uses.",
        answer_format="fill in the blank: the missing word or phrase",
        params={"word": ("a noun", "a verb", "an adjective", "a technical term", "an idiomatic phrase")},
        example="Fill in the blank: The committee decided to ____ the proposal until the next session.",
        kind=AnswerKind.SHORT,
    ),
    RCType(
        name="relationship_matching",
        description="Two lists drawn from the passage, items numbered 1, 2, 3... and items lettered A, B, C...; "
        "the student pairs each numbered item with the lettered item it relates to.",
        answer_format="matching pairs, e.g. 1-B, 2-A, 3-C",
        params={
            "relation": (
                "people and their roles or actions",
                "terms and their definitions",
                "causes and their effects",
                "things and their properties",
            ),
            "pairs": ("3", "4"),
        },
        example="Match each person (1-3) with their role (A-C).",
        kind=AnswerKind.MATCH,
    ),
    RCType(
        name="sequencing_events",
        description="Events or steps from the passage listed out of order and numbered; the student puts them in "
        "the order in which they happen (chronological or procedural order).",
        answer_format="ordering: the item numbers in order",
        params={"items": ("4", "5")},
        example="Put these events in the order they happened: 1. ... 2. ... 3. ... 4. ...",
        kind=AnswerKind.ORDER,
    ),
    _lsat(
        "strengthen",
        "Which option, if true, most strengthens the argument's conclusion. The correct option adds support; "
        "the others are irrelevant, weaken it, or merely restate a premise.",
        (
            "Which one of the following, if true, most strengthens the argument?",
            "Which one of the following, if true, provides the most support for the conclusion?",
            "Which one of the following, if true, most helps to justify the author's conclusion?",
        ),
    ),
    _lsat(
        "weaken",
        "Which option, if true, most seriously weakens the argument's conclusion. The correct option attacks "
        "the link between premises and conclusion; the others are irrelevant or strengthen it.",
        (
            "Which one of the following, if true, most seriously weakens the argument?",
            "Which one of the following, if true, most calls into question the conclusion?",
            "Which one of the following, if true, casts the most doubt on the author's reasoning?",
        ),
    ),
    _lsat(
        "necessary_assumption",
        "Which option is an assumption the argument requires: if it were false, the argument would fall apart.",
        (
            "The argument relies on which one of the following assumptions?",
            "Which one of the following is an assumption required by the argument?",
            "The argument depends on assuming which one of the following?",
        ),
    ),
    _lsat(
        "flaw",
        "Which option describes the error in the argument's reasoning (e.g. a causal leap, a biased sample, "
        "equivocation, a false dichotomy, circular reasoning).",
        (
            "The reasoning in the argument is flawed because the argument",
            "Which one of the following most accurately describes a flaw in the argument?",
            "The argument is most vulnerable to criticism on the grounds that it",
        ),
    ),
    _lsat(
        "inference",
        "Which option must be true if the statements in the passage are true.",
        (
            "If the statements above are true, which one of the following must also be true?",
            "Which one of the following can be properly inferred from the passage?",
            "The statements above, if true, most strongly support which one of the following?",
        ),
    ),
    _lsat(
        "principle_identify",
        "Which option states the general principle that the argument's reasoning relies on or conforms to.",
        (
            "Which one of the following principles most helps to justify the reasoning above?",
            "The argument's reasoning conforms most closely to which one of the following principles?",
            "Which one of the following principles underlies the author's argument?",
        ),
    ),
    _lsat(
        "method_of_reasoning",
        "Which option describes how the argument is built (e.g. by analogy, by counterexample, by ruling out "
        "alternatives, by appeal to evidence).",
        (
            "The argument proceeds by",
            "Which one of the following describes the technique of reasoning used in the argument?",
            "The author responds to the opposing view by",
        ),
    ),
)

EXTRA_TYPES: tuple[RCType, ...] = (
    _lsat(
        "sufficient_assumption",
        "Which option, if assumed, makes the conclusion follow logically from the premises.",
        (
            "The conclusion follows logically if which one of the following is assumed?",
            "Which one of the following, if assumed, enables the conclusion to be properly drawn?",
        ),
    ),
    _lsat(
        "parallel_reasoning",
        "Which option contains reasoning most similar in structure to the passage's argument (on a different topic).",
        (
            "Which one of the following arguments is most similar in its reasoning to the argument above?",
            "The pattern of reasoning in which one of the following is most similar to that in the passage?",
        ),
    ),
    _lsat(
        "parallel_flaw",
        "Which option contains a flaw in reasoning most similar to the flaw in the passage's argument (on a "
        "different topic).",
        (
            "The flawed reasoning in which one of the following is most similar to that in the argument above?",
            "Which one of the following exhibits a pattern of flawed reasoning most like the argument's?",
        ),
    ),
    _lsat(
        "resolve_paradox",
        "The passage presents two facts that seem to conflict; which option, if true, best explains how both "
        "can be true.",
        (
            "Which one of the following, if true, most helps to resolve the apparent discrepancy described above?",
            "Which one of the following, if true, best explains the seemingly conflicting facts?",
        ),
    ),
    _lsat(
        "evaluate_argument",
        "The answer to which option's question would be most useful in deciding whether the argument is sound.",
        (
            "Which one of the following would be most useful to know in evaluating the argument?",
            "The answer to which one of the following questions would most help in assessing the argument?",
        ),
    ),
    _lsat(
        "role_of_statement",
        "Which option describes the role a specific statement (quote it in the question) plays in the argument: "
        "a premise, the main conclusion, an intermediate conclusion, a counterpoint, an example.",
        (
            "The statement that '...' plays which one of the following roles in the argument?",
            "The claim quoted above figures in the argument in which one of the following ways?",
        ),
    ),
    _lsat(
        "main_conclusion",
        "Which option most accurately expresses the main conclusion of the argument.",
        (
            "Which one of the following most accurately expresses the main conclusion of the argument?",
            "The overall conclusion drawn in the passage is that",
        ),
    ),
    _lsat(
        "point_at_issue",
        "Two speakers or positions in the passage disagree; which option states the point they disagree about.",
        (
            "The two speakers disagree over whether",
            "The dialogue provides the most support for the claim that the speakers disagree about whether",
        ),
    ),
    _lsat(
        "principle_apply",
        "The passage states or illustrates a principle; which option describes a new situation that conforms "
        "to that principle.",
        (
            "Which one of the following judgments conforms most closely to the principle stated above?",
            "Which one of the following situations best illustrates the principle in the passage?",
        ),
    ),
    _lsat(
        "most_strongly_supported",
        "Which option is most strongly supported by the passage (not necessarily certain, but best backed).",
        (
            "The information above most strongly supports which one of the following?",
            "Which one of the following is most strongly supported by the passage?",
        ),
    ),
    _lsat(
        "cannot_be_true",
        "Four options could be true given the passage; the correct option is the one that cannot be true "
        "(EXCEPT form).",
        (
            "If the statements above are true, each of the following could be true EXCEPT:",
            "Which one of the following CANNOT be true if the statements in the passage are true?",
        ),
    ),
    _lsat(
        "weaken_except",
        "Four options weaken the argument; the correct option is the one that does not (EXCEPT form).",
        ("Each of the following, if true, weakens the argument EXCEPT:",),
    ),
    _lsat(
        "strengthen_except",
        "Four options strengthen the argument; the correct option is the one that does not (EXCEPT form).",
        ("Each of the following, if true, strengthens the argument EXCEPT:",),
    ),
    _mcq4(
        "main_idea",
        "Which option states the main idea or the primary purpose of the passage as a whole.",
        {"ask": ("the main idea", "the primary purpose", "the best title")},
    ),
    _mcq4(
        "attitude_tone",
        "Which option best describes the attitude or tone of the author, or of a named speaker, toward a subject "
        "of the passage.",
        {"whose": ("the author", "a named speaker or character")},
    ),
    _mcq4(
        "paragraph_purpose",
        "Which option describes the purpose of a specific paragraph, section or stanza within the passage.",
        {"part": ("the first paragraph or stanza", "the last paragraph or stanza", "a middle paragraph or stanza")},
    ),
    _mcq4(
        "text_structure",
        "Which option describes how the passage is organized (e.g. problem and solution, chronological, claim "
        "and evidence, comparison).",
        {"scope": ("the whole passage", "the relation between two parts of the passage")},
    ),
    _mcq4(
        "application",
        "A new situation not in the passage; which option shows how the passage's ideas or instructions apply "
        "to it, or which case is most analogous to one in the passage.",
        {"case": ("a new situation to apply the passage to", "an analogous case")},
    ),
    _mcq4(
        "detail_except",
        "All options but one are details the passage mentions; the correct option is the one the passage does "
        "NOT mention (EXCEPT/NOT form).",
        {"form": ("EXCEPT", "NOT")},
    ),
    _mcq4(
        "author_view_inference",
        "Which option is the author most likely to agree with, inferred from what the passage says.",
        {"direction": ("agree with", "disagree with")},
    ),
    _mcq4(
        "word_function",
        "Which option describes the function or meaning of a word or phrase as used in the passage (quote it in "
        "the question).",
        {"target": ("a word", "a phrase", "a sentence")},
    ),
    _mcq4(
        "figurative_meaning",
        "Which option best explains what an image, metaphor or other figure of speech in the passage (quote it "
        "in the question) means.",
        {"figure": ("a metaphor", "a simile", "an image", "a personification")},
    ),
    _mcq4(
        "speaker_identification",
        "Which speaker in the passage made a given statement, held a given view, or took a given action.",
        {"about": ("a statement", "a view", "an action or commitment")},
    ),
    _mcq4(
        "cause_effect",
        "Which option correctly states a cause-effect relation that the passage describes.",
        {"direction": ("the cause of a given effect", "the effect of a given cause")},
    ),
    RCType(
        name="date_number_difference",
        description="A question whose answer is the difference between two dates or two quantities stated in "
        "the passage.",
        answer_format="a number (with its unit)",
        params={"between": ("two dates", "two quantities")},
        example="How many years passed between the founding of the society and its first publication?",
        kind=AnswerKind.NUMBER,
    ),
    RCType(
        name="counting",
        description="A question asking how many items of some kind the passage mentions (people, steps, "
        "decisions, places, reasons), which the student must count across sentences.",
        answer_format="a number",
        params={"what": ("people or groups", "steps or actions", "reasons or factors", "places or dates")},
        example="How many distinct reasons does the author give for the delay?",
        kind=AnswerKind.NUMBER,
    ),
    RCType(
        name="multi_span_extraction",
        description="A question whose answer is two or more short spans taken from different sentences of the passage.",
        answer_format="a list of short spans separated by semicolons",
        params={"spans": ("two", "three")},
        example="Which two organizations funded the study?",
        kind=AnswerKind.SHORT,
    ),
    RCType(
        name="sorting_by_attribute",
        description="Items from the passage listed and numbered; the student sorts them by an attribute the "
        "passage gives (size, date, amount, rank).",
        answer_format="ordering: the item numbers in sorted order",
        params={"order": ("from largest to smallest", "from earliest to latest", "from smallest to largest")},
        example="Sort these cities from most to least populous: 1. ... 2. ... 3. ...",
        kind=AnswerKind.ORDER,
    ),
    RCType(
        name="summary",
        description="Ask for a short summary of the passage or of one of its parts.",
        answer_format="short answer: a one-to-three-sentence summary",
        params={"scope": ("the whole passage", "the second half of the passage"), "sentences": ("one", "two", "three")},
        example="Summarize the passage in two sentences.",
        kind=AnswerKind.OPEN,
    ),
    RCType(
        name="fact_vs_opinion",
        description="Three or four numbered statements from the passage; the student labels each as Fact "
        "(verifiable) or Opinion (a judgment).",
        answer_format="Fact/Opinion for each statement, in order",
        params={"statements": ("3", "4")},
        example="Label each statement Fact or Opinion: 1. ... 2. ... 3. ...",
        kind=AnswerKind.LABELS,
    ),
    RCType(
        name="action_items",
        description="A question asking which action items a meeting or conversation assigned, with their owners "
        "(and due dates where given).",
        answer_format="a list of 'owner: task' entries separated by semicolons",
        params={"detail": ("owners only", "owners and due dates")},
        example="List the action items agreed in the meeting, with their owners.",
        kind=AnswerKind.SHORT,
    ),
)

RC_TYPES: tuple[RCType, ...] = PAPER_TYPES + EXTRA_TYPES
_TYPES_BY_NAME: dict[str, RCType] = {t.name: t for t in RC_TYPES}

# "Transformer -> question subset" (method doc §8.2): the transformation agent decides which question
# agents may run on its passage.
_ARGUMENT_TYPES = (
    "strengthen",
    "weaken",
    "necessary_assumption",
    "sufficient_assumption",
    "flaw",
    "inference",
    "principle_identify",
    "principle_apply",
    "method_of_reasoning",
    "parallel_reasoning",
    "parallel_flaw",
    "resolve_paradox",
    "evaluate_argument",
    "role_of_statement",
    "main_conclusion",
    "most_strongly_supported",
    "cannot_be_true",
    "weaken_except",
    "strengthen_except",
)
_TEXT_TYPES = (
    "literal_comprehension",
    "numerical_discrete_reasoning",
    "relationship_matching",
    "summary",
    "main_idea",
    "detail_except",
    "date_number_difference",
    "counting",
    "multi_span_extraction",
    "sorting_by_attribute",
    "text_structure",
    "paragraph_purpose",
    "vocabulary_in_context",
    "critical_comprehension",
    "evaluative_comprehension",
    "cause_effect",
    "author_view_inference",
)
QUESTION_SUBSETS: Mapping[str, tuple[str, ...]] = {
    "argument": _ARGUMENT_TYPES,
    "debate": (*_ARGUMENT_TYPES, "point_at_issue", "speaker_identification", "attitude_tone"),
    "conversation": (
        "literal_comprehension",
        "relationship_matching",
        "sequencing_events",
        "inference",
        "attitude_tone",
        "speaker_identification",
        "fact_vs_opinion",
        "cause_effect",
        "point_at_issue",
    ),
    "meeting_transcript": (
        "literal_comprehension",
        "relationship_matching",
        "sequencing_events",
        "inference",
        "attitude_tone",
        "action_items",
        "speaker_identification",
        "date_number_difference",
        "counting",
        "multi_span_extraction",
    ),
    "poem": (
        "vocabulary_in_context",
        "evaluative_comprehension",
        "critical_comprehension",
        "attitude_tone",
        "figurative_meaning",
        "main_idea",
        "word_function",
        "paragraph_purpose",
    ),
    "satirical": (
        "critical_comprehension",
        "author_view_inference",
        "main_idea",
        "attitude_tone",
        "inference",
        "flaw",
        "fact_vs_opinion",
        "evaluative_comprehension",
        "word_function",
    ),
    "instructional": (
        "sequencing_events",
        "literal_comprehension",
        "numerical_discrete_reasoning",
        "application",
        "detail_except",
        "cause_effect",
        "counting",
        "multi_span_extraction",
    ),
    "long_text": _TEXT_TYPES,
    "identity": _TEXT_TYPES,
}


# ----
# LLM output models
# ----
class RCQuestion(BaseModel):
    question: str = Field(description="the question only (for multiple choice: the stem, without the options)")
    options: list[str] = Field(
        max_length=5,
        description="the answer choices without letters (4 or 5 for multiple choice); empty for other types",
    )
    answer: str = Field(description="the correct option's letter for multiple choice, else the short answer")


class RCQuestionBatch(BaseModel):
    questions: list[RCQuestion] = Field(min_length=1, max_length=3, description="the questions, 1 to 3")


class RCEditedItem(BaseModel):
    passage: str = Field(description="the full edited passage; an empty string if you did not change it")
    question: str = Field(description="the question (for multiple choice: the stem only)")
    options: list[str] = Field(
        max_length=5, description="the answer choices without letters; empty for non-multiple-choice questions"
    )
    answer: str = Field(
        description="the correct option's letter, the short answer, or 'not answerable' when no answer is supported"
    )


class Reanswer(BaseModel):
    reasoning: str = Field(description="short step-by-step reasoning that quotes the passage")
    answerable: bool = Field(description="false if the passage does not give enough information to answer")
    answer: str = Field(description="the correct option's letter, or the short answer; empty if not answerable")


# ----
# Parsing and comparing answers
# ----
_OPTION_PREFIX = re.compile(r"^\s*(?:\(([A-Ea-e])\)|\[([A-Ea-e])\]|([A-E])[.):](?=\s)|option\s+([A-Ea-e])\s*[:.)-])\s*")
_OPTION_LINE = re.compile(r"^\s*\(?[A-E][).:]\s+\S", re.M)
_UNANSWERABLE_RE = re.compile(
    r"not answerable|unanswerable|cannot be (?:determined|answered|inferred|known)|can't be (?:determined|answered)"
    r"|(?:does|do) not (?:provide|contain|give|say|state|mention|support|include) (?:enough|sufficient|any|the)"
    r"|not enough information|insufficient information|no option is supported|none of the options is supported",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_STOPWORD_TEXT = (
    "a an the of and or to in on at by for with from is are was were be been it its this that these "
    "those as which who whom what answer"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_LABEL_WORDS = {"true": "true", "false": "false", "yes": "true", "no": "false", "fact": "fact", "opinion": "opinion"}
_PAIR_RE = re.compile(r"\b(\d+)\s*(?:-|–|—|:|->|→|=|with|to|matches)\s*\(?([A-Za-z])\b\)?")
_PAIR_REVERSED_RE = re.compile(r"\b([A-Za-z])\)?\s*(?:-|–|—|:|->|→|=)\s*(\d+)\b")
_FINAL_LINE = re.compile(r"^\s*\**answer\**\s*:\s*(.+?)\s*$", re.I)


def clean_options(options: Sequence[str]) -> list[str]:
    """Options without the letters the model may have prefixed, blank ones dropped."""
    cleaned = []
    for option in options:
        text = _OPTION_PREFIX.sub("", option.strip(), count=1).strip()
        if text:
            cleaned.append(text)
    return cleaned


def says_unanswerable(text: str) -> bool:
    normalized = text.strip().strip(".").lower()
    return normalized in {"none", "n/a", "unknown"} or bool(_UNANSWERABLE_RE.search(text))


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def parse_letter(text: str, options: Sequence[str]) -> str | None:
    """The option letter an answer names, if any: `C`, `(C)`, `C) ...`, `option C`, or an option's text."""
    letters = LETTERS[: len(options)]
    stripped = text.strip().strip("*").strip()
    candidates: list[str] = []
    whole = re.fullmatch(r"\(?([A-Ea-e])\)?[.):]?", stripped)
    if whole:
        candidates.append(whole.group(1).upper())
    start = re.match(r"^\(?([A-E])(?:\)|[.:])(?:\s|$)", stripped)
    if start:
        candidates.append(start.group(1))
    paren = re.search(r"\(([A-E])\)", stripped)
    if paren:
        candidates.append(paren.group(1))
    named = re.search(r"\b(?i:answer|option|choice)(?:\s+is)?\s*:?\s*\(?([A-E])\b", stripped)
    if named:
        candidates.append(named.group(1))
    for letter in candidates:
        if letter in letters:
            return letter
    normalized = _norm(stripped)
    if normalized:
        matches = [LETTERS[i] for i, option in enumerate(options) if _norm(option) == normalized]
        if len(matches) == 1:
            return matches[0]
        contained = [LETTERS[i] for i, option in enumerate(options) if _norm(option) and _norm(option) in normalized]
        if len(contained) == 1:
            return contained[0]
    return None


def _tokens(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _first_number(text: str) -> float | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def _labels(text: str) -> list[str]:
    return [_LABEL_WORDS[w] for w in _WORD.findall(text.lower()) if w in _LABEL_WORDS]


def _sequence(text: str) -> list[str]:
    numbers = re.findall(r"\b\d+\b", text)
    return numbers or re.findall(r"\b[A-E]\b", text)


def _pairs(text: str) -> set[tuple[str, str]]:
    pairs = {(n, letter.upper()) for n, letter in _PAIR_RE.findall(text)}
    if not pairs:
        pairs = {(n, letter.upper()) for letter, n in _PAIR_REVERSED_RE.findall(text)}
    return pairs


def parses_as(kind: AnswerKind, text: str, options: Sequence[str] = ()) -> bool:
    """Whether `text` has the form `kind` asks for (a letter, a number, labels, an order, pairs)."""
    if kind is AnswerKind.MCQ:
        return parse_letter(text, options) is not None
    if kind is AnswerKind.NUMBER:
        return _first_number(text) is not None
    if kind is AnswerKind.LABELS:
        return len(_labels(text)) >= 2
    if kind is AnswerKind.ORDER:
        return len(_sequence(text)) >= 2
    if kind is AnswerKind.MATCH:
        return len(_pairs(text)) >= 2
    return bool(text.strip())


def answers_agree(kind: AnswerKind, expected: str, given: str, options: Sequence[str] = ()) -> tuple[bool, str]:
    """Compare two answers of an answerable question of this kind; (agree?, how they were compared)."""
    if kind is AnswerKind.MCQ:
        a, b = parse_letter(expected, options), parse_letter(given, options)
        return a is not None and a == b, f"letters {a} vs {b}"
    if kind is AnswerKind.NUMBER:
        x, y = _first_number(expected), _first_number(given)
        if x is None or y is None:
            return False, f"numbers {x} vs {y}"
        return math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-9), f"numbers {x:g} vs {y:g}"
    if kind is AnswerKind.LABELS:
        la, lb = _labels(expected), _labels(given)
        return bool(la) and la == lb, f"labels {la} vs {lb}"
    if kind is AnswerKind.ORDER:
        sa, sb = _sequence(expected), _sequence(given)
        return bool(sa) and sa == sb, f"order {sa} vs {sb}"
    if kind is AnswerKind.MATCH:
        pa, pb = _pairs(expected), _pairs(given)
        return bool(pa) and pa == pb, f"pairs {sorted(pa)} vs {sorted(pb)}"
    ta, tb = _tokens(expected), _tokens(given)
    if not ta or not tb:
        return False, "an answer has no content words"
    common = len(ta & tb)
    f1 = 2 * common / (len(ta) + len(tb))
    containment = common / min(len(ta), len(tb))
    return f1 >= 0.5 or containment >= 0.8, f"token overlap F1 {f1:.2f}, containment {containment:.2f}"


def final_answer_line(text: str) -> str | None:
    """The value of the last non-empty line if it is `Answer: ...`."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    match = _FINAL_LINE.match(lines[-1])
    return match.group(1) if match else None


def _strip_answer_lines(reasoning: str) -> str:
    lines = reasoning.strip().splitlines()
    while lines and (not lines[-1].strip() or _FINAL_LINE.match(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip()


def _one_line(text: str) -> str:
    parts = [part.strip().rstrip(";") for part in text.strip().splitlines() if part.strip()]
    return "; ".join(parts)


# ----
# The skill
# ----
class ReadingComprehension(Skill):
    name: ClassVar[str] = "rc"
    split: ClassVar[str] = "rc"
    title: ClassVar[str] = "Reading Comprehension"
    description: ClassVar[str] = (
        "understanding a passage: literal details, numerical reasoning over its facts, vocabulary in context, "
        "structure, argument analysis (strengthen, weaken, assumption, flaw, inference) and critical evaluation"
    )
    transform_agents: ClassVar[tuple[TransformAgent, ...]] = (*PASSAGE_AGENTS, IDENTITY)
    transforms_per_seed: ClassVar[int] = 1
    instruction_types: ClassVar[tuple[InstructionType, ...]] = RC_TYPES
    # HARDER comes first: a suggestion whose goal tag is not recognised falls back to the first goal.
    refinement_goals: ClassVar[tuple[RefinementGoal, ...]] = (
        RefinementGoal(
            HARDER,
            "keep the passage; make the question or the options harder: add a hypothetical scenario to the "
            "question, or make the wrong options closer to the right one, each tied to a specific misreading",
        ),
        RefinementGoal(
            FLIP,
            "edit the passage minimally so that a different option (or the opposite answer) becomes correct; "
            "keep the question and the options",
        ),
        RefinementGoal(
            UNANSWERABLE,
            "edit the passage so that it no longer supports any answer to the question; keep the question and "
            "the options",
        ),
    )
    judge_rubric: ClassVar[str] = (
        "Reading comprehension. The question must be answerable from the passage alone (or, when the reference "
        "answer is 'not answerable', the passage must really not support an answer and the assistant must say "
        "so). Multiple-choice questions need exactly one defensible option. The response must reason from the "
        "passage, quoting it, and end with a final 'Answer:' line that matches the reference answer."
    )
    suggest_prompt: ClassVar[str] = "rc/suggest"
    teacher_prompt: ClassVar[str] = "rc/teacher"
    refine_suggest_prompt: ClassVar[str] = "rc/refine_suggest"
    edit_prompt: ClassVar[str] = "rc/refine_edit"
    reanswer_prompt: ClassVar[str] = "rc/reanswer"

    # ---- item helpers ------------------------------------------------------------------------------------------
    def rc_type(self, name: str) -> RCType:
        try:
            return _TYPES_BY_NAME[name]
        except KeyError:
            raise KeyError(f"skill rc has no question type {name!r}") from None

    def kind_of(self, instruction: Instruction) -> AnswerKind:
        value = instruction.data.get("kind")
        if isinstance(value, str):
            try:
                return AnswerKind(value)
            except ValueError:
                pass
        itype = instruction.lineage.instruction_type
        return _TYPES_BY_NAME[itype].kind if itype in _TYPES_BY_NAME else AnswerKind.SHORT

    def options_of(self, instruction: Instruction) -> list[str]:
        options = instruction.data.get("options")
        return [str(o) for o in options] if isinstance(options, list) else []

    def is_answerable(self, instruction: Instruction) -> bool:
        return bool(instruction.data.get("answerable", True))

    def lettered(self, options: Sequence[str]) -> list[str]:
        return [f"({letter}) {option}" for letter, option in zip(LETTERS, options, strict=False)]

    def answer_hint(self, instruction: Instruction) -> str:
        return ANSWER_HINTS[self.kind_of(instruction)]

    # ---- transformation -> question subset ---------------------------------------------------------------------
    def candidate_types(self, item: Transformed) -> Sequence[InstructionType]:
        names = QUESTION_SUBSETS.get(item.lineage.transform_agent or "")
        if names is None:
            return self.instruction_types
        return [_TYPES_BY_NAME[name] for name in names]

    # ---- seed instruction generation ---------------------------------------------------------------------------
    def render_suggest(
        self, item: Transformed, itype: RCType, params: dict[str, str], count: int
    ) -> list[dict[str, str]]:
        agent_params = item.data.get("params")
        gap = agent_params.get("gap") if isinstance(agent_params, dict) else None
        return load_prompt(self.suggest_prompt).render(
            skill=self,
            itype=itype,
            params=params,
            passage=item.content,
            form=PASSAGE_FORMS.get(item.lineage.transform_agent or "", "an informational text"),
            gap=gap if isinstance(gap, str) and gap != NO_GAP else "",
            count=count,
            mcq=itype.kind is AnswerKind.MCQ,
            n_options=itype.n_options,
            last_letter=LETTERS[max(itype.n_options, 1) - 1],
            answer_hint=ANSWER_HINTS[itype.kind],
        )

    async def suggest(
        self,
        item: Transformed,
        itype: InstructionType,
        params: dict[str, str],
        ctx: StageContext,
        calls: Calls,
    ) -> list[Draft]:
        rtype = self.rc_type(itype.name)
        count = ctx.config.max_instructions_per_type
        template = load_prompt(self.suggest_prompt)
        result = await ctx.llm.generate(
            Role.SUGGEST, self.render_suggest(item, rtype, params, count), RCQuestionBatch, prompt=template.ref
        )
        calls.add(result.record)
        drafts: list[Draft] = []
        problems: list[str] = []
        for question in result.parsed.questions[:count]:
            try:
                drafts.append(self.build_question(item, rtype, params, question))
            except AgentOutputError as exc:
                problems.append(str(exc))
        if not drafts:
            raise AgentOutputError(f"no usable {rtype.name} question: " + "; ".join(problems))
        return drafts

    def build_question(self, item: Transformed, itype: RCType, params: dict[str, str], raw: RCQuestion) -> Draft:
        """A draft from one suggested question, or `AgentOutputError` when it is incoherent."""
        question = raw.question.strip()
        options = clean_options(raw.options)
        if itype.kind is AnswerKind.MCQ and options:
            question = _OPTION_LINE.split(question, maxsplit=1)[0].strip() or question
        if len(question) < 10:
            raise AgentOutputError(f"question too short: {question!r}")
        key = self._key(itype.kind, options, raw.answer)
        return Draft(
            instruction=question,
            context=item.content,
            answer_key=key,
            data={
                "params": params,
                "kind": itype.kind.value,
                "options": options if itype.kind is AnswerKind.MCQ else [],
                "answerable": True,
            },
        )

    def _key(self, kind: AnswerKind, options: list[str], answer: str) -> str:
        """The answer key for a `kind` question with these options, or `AgentOutputError`."""
        if kind is AnswerKind.MCQ:
            if not 4 <= len(options) <= 5:
                raise AgentOutputError(f"a multiple-choice question needs 4-5 options, got {len(options)}")
            if len({_norm(o) for o in options}) < len(options):
                raise AgentOutputError("two options are the same")
            letter = parse_letter(answer, options)
            if letter is None:
                raise AgentOutputError(f"the key {answer!r} names none of the options A-{LETTERS[len(options) - 1]}")
            return letter
        key = _one_line(answer)
        if not key:
            raise AgentOutputError("empty answer key")
        if says_unanswerable(key):
            raise AgentOutputError("the suggested question is not answerable from the passage")
        if not parses_as(kind, key):
            raise AgentOutputError(f"the key {key!r} is not in the {kind.value} format")
        return key

    # ---- refinement --------------------------------------------------------------------------------------------
    def goals_for(self, instruction: Instruction) -> list[RefinementGoal]:
        """Goals that make sense for this item: none for an unanswerable item, HARDER only for open questions."""
        if not self.is_answerable(instruction):
            return []
        kind = self.kind_of(instruction)
        allowed = {HARDER}
        if kind in CLOSED_KINDS:
            allowed.add(FLIP)
        if kind in UNANSWERABLE_KINDS:
            allowed.add(UNANSWERABLE)
        return [goal for goal in self.refinement_goals if goal.name in allowed]

    def accept_suggestion(self, instruction: Instruction, goal: str, index: int) -> bool:
        """Apply goals that fit the item; keep UNANSWERABLE edits only at `UNANSWERABLE_KEEP_RATE` (id-seeded)."""
        if goal not in {g.name for g in self.goals_for(instruction)}:
            return False
        if goal == UNANSWERABLE:
            return rng_for(instruction.id, self.name, "unanswerable", str(index)).random() < UNANSWERABLE_KEEP_RATE
        return True

    def render_edit(self, instruction: Instruction, goal: str, suggestion: str) -> list[dict[str, str]]:
        kind = self.kind_of(instruction)
        return load_prompt(self.edit_prompt).render(
            skill=self,
            item=instruction,
            goal=goal,
            suggestion=suggestion,
            mcq=kind is AnswerKind.MCQ,
            options=self.lettered(self.options_of(instruction)),
            answer_hint=ANSWER_HINTS[kind],
        )

    async def edit(
        self, instruction: Instruction, goal: str, suggestion: str, ctx: StageContext, calls: Calls
    ) -> Draft:
        template = load_prompt(self.edit_prompt)
        result = await ctx.llm.generate(
            Role.EDIT, self.render_edit(instruction, goal, suggestion), RCEditedItem, prompt=template.ref
        )
        calls.add(result.record)
        return self.apply_rc_edit(instruction, result.parsed, goal)

    def apply_edit(self, instruction: Instruction, edited: EditedItem, goal: str) -> Draft:
        """The generic editor's answer: options are read from lettered lines of the question, if any."""
        question = edited.instruction
        options: list[str] = []
        if self.kind_of(instruction) is AnswerKind.MCQ:
            lines = question.splitlines()
            stem = [line for line in lines if not _OPTION_LINE.match(line)]
            options = clean_options([line for line in lines if _OPTION_LINE.match(line)])
            question = "\n".join(stem)
        return self.apply_rc_edit(
            instruction,
            RCEditedItem(passage=edited.context, question=question, options=options, answer=edited.answer),
            goal,
        )

    def apply_rc_edit(self, instruction: Instruction, edited: RCEditedItem, goal: str) -> Draft:
        """A coherent new item from the Editor's answer, or `AgentOutputError` when the edit missed its goal.

        HARDER keeps the passage; FLIP and UNANSWERABLE must change it and keep the options when the Editor
        leaves them out. The key is re-derived against the new options; FLIP must change the correct answer.
        """
        kind = self.kind_of(instruction)
        old_options = self.options_of(instruction)
        old_key = instruction.answer_key or ""
        passage = instruction.context if goal == HARDER else (edited.passage.strip() or instruction.context)
        question = edited.question.strip() or instruction.instruction
        options = clean_options(edited.options) if kind is AnswerKind.MCQ else []
        if kind is AnswerKind.MCQ and not options:
            if goal == HARDER:
                raise AgentOutputError("the HARDER edit of a multiple-choice question returned no options")
            options = old_options
        passage_changed = _norm(passage) != _norm(instruction.context)
        if goal in (FLIP, UNANSWERABLE) and not passage_changed:
            raise AgentOutputError(f"the {goal} edit did not change the passage")
        if goal == UNANSWERABLE:
            if kind is AnswerKind.MCQ:
                self._key(kind, options, "A")  # the options must still be a valid set
            key = UNANSWERABLE_KEY
        else:
            if says_unanswerable(edited.answer):
                raise AgentOutputError(f"the {goal} edit made the question unanswerable")
            key = self._key(kind, options, edited.answer)
        if goal == FLIP:
            if kind is AnswerKind.MCQ:
                same = old_key in LETTERS[: len(old_options)] and _norm(options[LETTERS.index(key)]) == _norm(
                    old_options[LETTERS.index(old_key)]
                )
            else:
                same = answers_agree(kind, old_key, key)[0]
            if same:
                raise AgentOutputError("the FLIP edit kept the same correct answer")
        if goal == HARDER and _norm(question) == _norm(instruction.instruction) and options == old_options:
            raise AgentOutputError("the HARDER edit changed neither the question nor the options")
        return Draft(
            instruction=question,
            context=passage,
            answer_key=key,
            data={
                **instruction.data,
                "options": options,
                "answerable": goal != UNANSWERABLE,
                "refinement_goal": goal,
                "previous_key": old_key,
            },
        )

    # ---- teacher -----------------------------------------------------------------------------------------------
    def user_message(self, instruction: Instruction) -> str:
        """The passage, then `Q: <question>`, then one `(A) option` line per option."""
        parts = [instruction.context.strip(), f"Q: {instruction.instruction.strip()}"]
        options = self.options_of(instruction)
        if options:
            parts.append("\n".join(self.lettered(options)))
        return "\n\n".join(part for part in parts if part)

    def final_answer(self, instruction: Instruction, answer: str) -> str:
        """The text after `Answer: ` for the teacher's short answer: `(C)`, a short answer, or 'not answerable'."""
        kind = self.kind_of(instruction)
        if kind is AnswerKind.MCQ:
            # "(B) The passage does not state ..." names an option; "not answerable (see option C)" does not.
            names_option_first = re.match(r"^\W*\(?[A-E](?:\)|[.:]|\s|$)", answer.strip()) is not None
            letter = parse_letter(answer, self.options_of(instruction))
            if letter is not None and (names_option_first or not says_unanswerable(answer)):
                return f"({letter})"
        if says_unanswerable(answer):
            return UNANSWERABLE_TEXT
        return _one_line(answer)

    def render_answer(self, instruction: Instruction, answer: TeacherAnswer) -> str:
        """Reasoning, a blank line, then `Answer: (C)` (or `Answer: <short answer>`); an essay is the essay."""
        if self.kind_of(instruction) is AnswerKind.ESSAY:
            return answer.answer.strip()
        reasoning = _strip_answer_lines(answer.reasoning)
        final = f"Answer: {self.final_answer(instruction, answer.answer)}"
        return f"{reasoning}\n\n{final}" if reasoning else final

    def skill_checks_brief(self, instruction: Instruction) -> list[str]:
        kind = self.kind_of(instruction)
        checks = ["Every step is supported by the passage; quote the sentences you rely on."]
        if kind is AnswerKind.MCQ:
            letters = LETTERS[: len(self.options_of(instruction))]
            checks.append(f"The final answer is exactly one option letter ({', '.join(letters)}).")
            checks.append("The reasoning explains why the chosen option is right and the others are wrong.")
        elif kind is AnswerKind.ESSAY:
            checks.append("The answer is a well-organized essay that cites evidence from the passage.")
        else:
            checks.append(f"The final answer is {ANSWER_HINTS[kind]}.")
        if kind in UNANSWERABLE_KINDS:
            checks.append("If the passage does not give enough information, the answer says 'not answerable'.")
        return checks

    # ---- validation --------------------------------------------------------------------------------------------
    def render_reanswer(self, instruction: Instruction) -> list[dict[str, str]]:
        kind = self.kind_of(instruction)
        return load_prompt(self.reanswer_prompt).render(
            skill=self,
            user_message=self.user_message(instruction),
            mcq=kind is AnswerKind.MCQ,
            answer_hint=ANSWER_HINTS[kind],
        )

    async def reanswer(self, instruction: Instruction, ctx: StageContext, calls: Calls) -> Reanswer:
        """An independent teacher-role answer: it sees the passage, question and options, not the key."""
        template = load_prompt(self.reanswer_prompt)
        result = await ctx.llm.generate(Role.TEACHER, self.render_reanswer(instruction), Reanswer, prompt=template.ref)
        calls.add(result.record)
        return result.parsed

    async def check(self, candidate: Candidate, ctx: StageContext, calls: Calls) -> list[CheckResult]:
        instruction = candidate.instruction
        kind = self.kind_of(instruction)
        options = self.options_of(instruction)
        answerable = self.is_answerable(instruction)
        key = instruction.answer_key or ""
        results: list[CheckResult] = []

        def add(name: str, passed: bool, detail: str) -> None:
            results.append(CheckResult(name=f"skill.{name}", passed=passed, detail=detail))

        if kind is AnswerKind.MCQ:
            ok = 4 <= len(options) <= 5 and (key in LETTERS[: len(options)] if answerable else key == UNANSWERABLE_KEY)
            add("mcq_key", ok, f"{len(options)} options, key {key!r}")
        final = candidate.messages[-1].content if candidate.messages else ""
        if kind is AnswerKind.ESSAY:
            words = len(final.split())
            add("answer_line", words >= 60, f"essay of {words} words (no final answer line for essays)")
            add("answer_matches_key", True, "skipped: an essay has no single correct answer")
            return results
        line = final_answer_line(final)
        if line is None:
            add("answer_line", False, "no final 'Answer:' line")
            return results
        assistant_unanswerable = says_unanswerable(line)
        add("answer_line", assistant_unanswerable or parses_as(kind, line, options), f"final line {line!r}")
        if not all(r.passed for r in results):
            return results
        if kind is AnswerKind.OPEN:
            add("answer_matches_key", True, "skipped: an open answer has no single correct wording")
            return results
        if not answerable:
            add("answer_matches_key", assistant_unanswerable, f"key 'not answerable', assistant {line!r}")
        elif assistant_unanswerable:
            add("answer_matches_key", False, f"the assistant says not answerable, the key is {key!r}")
        else:
            agree, how = answers_agree(kind, key, line, options)
            add("answer_matches_key", agree, f"key vs assistant: {how}")
        if not all(r.passed for r in results):
            return results

        second = await self.reanswer(instruction, ctx, calls)
        re_unanswerable = not second.answerable or says_unanswerable(second.answer)
        if not answerable:
            add("reanswer_agrees_key", re_unanswerable, f"re-answer {second.answer!r}, key 'not answerable'")
            add("reanswer_agrees_answer", re_unanswerable, f"re-answer {second.answer!r}, assistant {line!r}")
            return results
        if re_unanswerable:
            add("reanswer_agrees_key", False, f"the re-answer says not answerable, the key is {key!r}")
            return results
        agree_key, how_key = answers_agree(kind, key, second.answer, options)
        add("reanswer_agrees_key", agree_key, f"key vs re-answer: {how_key}")
        agree_answer, how_answer = answers_agree(kind, line, second.answer, options)
        add("reanswer_agrees_answer", agree_answer, f"assistant vs re-answer: {how_answer}")
        return results

    # ---- description -------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["transform_contracts"] = {agent.name: agent.contract for agent in PASSAGE_AGENTS}
        info["question_subsets"] = {agent: list(names) for agent, names in QUESTION_SUBSETS.items()}
        info["answer_kinds"] = {t.name: t.kind.value for t in RC_TYPES}
        info["unanswerable_keep_rate"] = UNANSWERABLE_KEEP_RATE
        return info


register(ReadingComprehension())
