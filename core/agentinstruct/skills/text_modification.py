"""Text modification (`text_modification`): 18 edit types on raw excerpts, every verifiable constraint checked.

Flow (AgentInstruct §2.2, this project's method doc §8.3):
  transform  -> mostly Identity: a raw excerpt of the seed (80-400 words cut at sentence boundaries, its
                artefacts kept, chosen deterministically from the seed id; no LLM call). Otherwise one of five
                LLM agents writes an event notice, an email, a product description, structured text with
                dates/times/units (for normalization) or text with personal data (for removal/obfuscation);
  suggest    -> one of the 18 paper types is picked per content (the paper: one of 18 agents per seed),
                its parameter slots are filled (target case, language, letters, words to replace, entity class,
                date format...), and the type's agent writes 1-2 instructions around the requirement;
                each instruction carries the machine-checkable constraints of its type in `data`;
  refine     -> Suggester/Editor with §8.3's goals (narrative, poem, social-media post, combine two types,
                apply to a named span, keep named entities, word-count window, JSON output, new audience);
                the Editor answers structured fields (window, entities, JSON fields, span) that become
                constraints too;
  teacher    -> the modified text only (own teacher prompt); reflection runs the programmatic checks first
                and revises against their failures, then the LLM critique;
  check      -> `checks.text_constraints.evaluate` over the stored constraints (case, starting letters,
                word windows, entities kept, JSON, redaction, styling, keyword replacement, ISO dates, 24-hour
                times, metric units, US spelling, language, layout, markers, copying, span-only...).

User turns follow the released rows: `<instruction>\\n\\nText:\\n<text>`; the assistant turn is the text alone.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agentinstruct.checks import text_constraints as tc
from agentinstruct.llm.base import Role
from agentinstruct.prompts import load_prompt
from agentinstruct.skills.base import (
    AgentOutputError,
    Calls,
    Critique,
    Draft,
    EditedItem,
    FlowConfig,
    InstructionType,
    LLMTransformAgent,
    RefinementGoal,
    Skill,
    StageContext,
    TeacherAnswer,
    TeacherOutput,
    TransformAgent,
    TransformOutput,
    rng_for,
)
from agentinstruct.skills.registry import register
from agentinstruct_schemas import Candidate, CheckResult, Instruction, Seed, Transformed

Constraint = dict[str, Any]

SKILL_NAME = "text_modification"
IDENTITY_SHARE = 0.6
"""Share of seeds passed through as a raw excerpt (§8.3: "mostly Identity")."""
PREFERRED_SHARE = 0.75
"""How often an LLM transform's content gets one of the types it was written for."""
EXCERPT_MIN_WORDS = 80
EXCERPT_MAX_WORDS = 400
EXCERPT_FLOOR_WORDS = 30
MIN_INSTRUCTION_WORDS = 4
MAX_INSTRUCTION_WORDS = 90

CRITIQUE_PROMPT = f"{SKILL_NAME}/critique"
REVISE_PROMPT = f"{SKILL_NAME}/revise"

SHAPE_GOALS = frozenset({"narrative", "poem", "social_post", "json_output", "audience"})
"""Goals that change the form of the answer: the type's layout/length/wording constraints no longer apply."""


# ----
# Transformation agents
# ----
_BOUNDARY_RE = re.compile(r"(?<=[.!?])[\"'”’)\]]*[ \t]+(?=[\"'“‘(\[]?[A-Z0-9])|\r?\n")


def excerpt_bounds(text: str, key: str) -> tuple[int, int]:
    """(start, end) character offsets of a 80-400 word excerpt cut at sentence boundaries, chosen from `key`."""
    starts = [0] + [m.end() for m in _BOUNDARY_RE.finditer(text)]
    pieces = [(a, b) for a, b in zip(starts, [*starts[1:], len(text)], strict=True) if text[a:b].strip()]
    counts = [len(text[a:b].split()) for a, b in pieces]
    total = sum(counts)
    if total <= EXCERPT_MIN_WORDS:
        return 0, len(text)
    rng = rng_for(key, SKILL_NAME, "excerpt")
    target = rng.randint(EXCERPT_MIN_WORDS, min(EXCERPT_MAX_WORDS, total))
    suffix = [sum(counts[i:]) for i in range(len(counts))]
    first_ok = [i for i in range(len(pieces)) if suffix[i] >= target] or [0]
    first = rng.choice(first_ok)
    words = 0
    last = first
    for index in range(first, len(pieces)):
        if words and words + counts[index] > EXCERPT_MAX_WORDS:
            break
        words += counts[index]
        last = index
        if words >= target:
            break
    return pieces[first][0], pieces[last][1]


@dataclass(frozen=True, slots=True)
class ExcerptAgent:
    """The paper's Identity agent for this skill: a raw excerpt of the seed, no LLM call."""

    name: str = "identity"
    prompt_version: str = "text_modification/excerpt@1"
    description: str = "a raw excerpt of the seed (80-400 words, cut at sentence boundaries)"

    async def run(self, seed: Seed, skill: Skill, ctx: StageContext, calls: Calls) -> list[TransformOutput]:
        start, end = excerpt_bounds(seed.text, seed.id)
        text = seed.text[start:end].strip()
        count = tc.word_count(text)
        if count < EXCERPT_FLOOR_WORDS:
            raise AgentOutputError(f"the seed has {count} words, fewer than {EXCERPT_FLOOR_WORDS}")
        return [TransformOutput(content=text, data={"excerpt": [start, end], "words": count})]


def _agent(name: str, description: str) -> LLMTransformAgent:
    return LLMTransformAgent(name=name, prompt=f"{SKILL_NAME}/transform_{name}", description=description, min_chars=250)


LLM_AGENTS: tuple[LLMTransformAgent, ...] = (
    _agent("event_notice", "an event notice or announcement with date, time, place and deadlines"),
    _agent("email", "an email or letter between named people, with contact details"),
    _agent("product_description", "a product or specification description with features and measurements"),
    _agent("structured_data", "a schedule or report full of dates, times and measurements in mixed formats"),
    _agent("personal_data", "a record or message containing names, emails, phone numbers and account numbers"),
)

AGENT_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "event_notice": ("content_rewriting", "data_normalization", "text_formatting", "text_styling", "paraphrasing"),
    "email": ("text_removing", "text_obfuscation", "sentiment_modification", "content_rewriting", "paraphrasing"),
    "product_description": (
        "keyword_replacement",
        "text_styling",
        "text_formatting",
        "text_simplification",
        "text_expansion",
        "data_normalization",
    ),
    "structured_data": ("data_normalization", "text_formatting"),
    "personal_data": ("text_removing", "text_obfuscation"),
}


# ----
# Content features (what the text offers to the parameter slots)
# ----
_KEYWORD_STOPWORDS = tc.wordset(
    "about above after again against along already although always among another around because before being "
    "below between beyond could during either every first further however itself might never often other "
    "others rather shall should since still their there therefore these thing things those though through "
    "under until upon using whose where whether which while within without would years today along also"
)


@dataclass(frozen=True, slots=True)
class Features:
    words: int
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    accounts: tuple[str, ...]
    urls: tuple[str, ...]
    dates: tuple[str, ...]
    non_iso_dates: tuple[str, ...]
    times: tuple[str, ...]
    imperial: tuple[str, ...]
    british: tuple[str, ...]
    names: tuple[str, ...]
    person_names: tuple[str, ...]
    numbers: tuple[str, ...]
    keywords: tuple[str, ...]


@lru_cache(maxsize=256)
def features(content: str) -> Features:
    emails = tc.extract_emails(content)
    phones = tc.extract_phones(content)
    accounts = tc.extract_accounts(content)
    urls = tc.extract_urls(content)
    dates = tc.extract_dates(content)
    numbers = tc.standalone_numbers(content)
    prose = tc.strip_contacts(content)
    counts = Counter(w for w in re.findall(r"\b[a-z]{5,}\b", prose) if w not in _KEYWORD_STOPWORDS)
    keywords = [w for w, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:12]
    return Features(
        words=tc.word_count(content),
        emails=tuple(emails),
        phones=tuple(phones),
        accounts=tuple(accounts),
        urls=tuple(urls),
        dates=tuple(dates),
        non_iso_dates=tuple(tc.non_iso_dates(content)),
        times=tuple(tc.extract_times(content)),
        imperial=tuple(tc.extract_imperial(content)),
        british=tuple(tc.extract_british(content)),
        names=tuple(tc.extract_names(content)),
        person_names=tuple(tc.extract_person_names(content)),
        numbers=tuple(numbers),
        keywords=tuple(keywords),
    )


# ----
# Taxonomy: the 18 types of the paper, with parameter slots
# ----
def _type(name: str, description: str, params: Mapping[str, Sequence[str]], example: str) -> InstructionType:
    return InstructionType(
        name=name,
        description=description,
        answer_format="the modified text only",
        params=params,
        example=example,
    )


INSTRUCTION_TYPES: tuple[InstructionType, ...] = (
    _type(
        "paraphrasing",
        "Restate the text in different words while keeping every fact and its meaning.",
        {"register": ("the same register", "a more formal register", "a more conversational register")},
        "Paraphrase the text in a more formal register.",
    ),
    _type(
        "text_simplification",
        "Make the text easier to read for a given reader: shorter sentences, common words, no jargon.",
        {"audience": ("a 10-year-old child", "an English learner at A2 level", "a reader new to the subject")},
        "Simplify the text so that a 10-year-old child can understand it.",
    ),
    _type(
        "text_expansion",
        "Make the text longer by adding relevant detail, examples or explanations, to a target length.",
        {
            "focus": ("background details", "concrete examples", "explanations of technical terms"),
            "min_ratio": ("1.3", "1.5", "2"),
        },
        "Expand the text to at least 1.5 times its length by adding concrete examples.",
    ),
    _type(
        "text_translation",
        "Translate the whole text into the target language.",
        {"target_language": ("French", "Spanish", "German", "Italian", "Portuguese")},
        "Translate the text into Spanish.",
    ),
    _type(
        "text_formatting",
        "Reorganize the text into a given layout (list, table, headings, JSON) without losing content.",
        {"layout": ("bullets", "numbered", "table", "headings", "json")},
        "Reformat the text as a bulleted list, one point per line.",
    ),
    _type(
        "sentiment_modification",
        "Rewrite the text with a different sentiment or tone while keeping the facts.",
        {"target_sentiment": ("positive", "negative", "neutral", "enthusiastic", "cautious")},
        "Rewrite the text so that it sounds enthusiastic.",
    ),
    _type(
        "text_annotation",
        "Add notes or comments to the text without rewriting the original wording.",
        {"annotation": ("bracket_notes", "footnotes", "note_comments")},
        "Add short explanatory notes in square brackets after difficult terms.",
    ),
    _type(
        "keyword_replacement",
        "Replace given words of the text with synonyms or related terms, leaving the rest unchanged.",
        {"replacement_kind": ("synonyms", "more formal terms", "simpler words")},
        "Replace the words 'quickly' and 'important' with synonyms.",
    ),
    _type(
        "text_removing",
        "Remove or redact a class of information (emails, phone numbers, names, dates, URLs, account numbers).",
        {"mode": ("delete", "redacted", "typed")},
        "Replace every email address in the text with [REDACTED].",
    ),
    _type(
        "text_capitalization",
        "Change the capitalization: upper, lower, title or sentence case, or make every sentence start with a "
        "given letter or word.",
        {"target": ("upper", "lower", "title", "sentence", "start_word", "start_letter")},
        "Convert the entire text to uppercase.",
    ),
    _type(
        "text_styling",
        "Add markdown styling (bold, italic, underline) to specific parts of the text.",
        {"style": ("bold", "italic", "underline"), "target": ("key_terms", "numbers", "names")},
        "Put every number in the text in bold.",
    ),
    _type(
        "content_rewriting",
        "Rewrite the text for a different perspective, style or audience.",
        {
            "perspective": (
                "a first-person account by someone involved",
                "a press release",
                "a briefing for busy executives",
                "an explanation for high-school students",
                "a neutral encyclopedia entry",
            )
        },
        "Rewrite the text as a press release.",
    ),
    _type(
        "data_normalization",
        "Normalize data in the text to one format: ISO-8601 dates, 24-hour times, metric units or US spelling.",
        {"target": ("iso_dates", "24h_times", "metric_units", "us_spelling")},
        "Convert every date in the text to the ISO-8601 format YYYY-MM-DD.",
    ),
    _type(
        "plagiarism_rewording",
        "Reword the text thoroughly so that no phrase is copied, keeping every fact.",
        {"purpose": ("a school report", "a company newsletter", "a blog post")},
        "Reword the text for a school report so that no phrase is copied from it.",
    ),
    _type(
        "code_switching",
        "Rewrite the text mixing two languages within and across sentences, as bilingual speakers do.",
        {"language": ("Spanish", "French", "German", "Italian", "Hindi")},
        "Rewrite the text mixing English and Spanish, switching language within sentences.",
    ),
    _type(
        "text_obfuscation",
        "Make parts of the text deliberately vague, e.g. to mask personal data or exact figures.",
        {"target": ("personal", "figures", "dates")},
        "Obfuscate the text so that no person can be identified.",
    ),
    _type(
        "textual_entailment",
        "Rewrite the text so that it entails, or contradicts, a given statement.",
        {"relation": ("entails", "contradicts")},
        'Rewrite the text so that it contradicts the statement: "The meeting was cancelled."',
    ),
    _type(
        "vocabulary_limits",
        "Rewrite the text under a vocabulary constraint: letters words start with, a forbidden letter, a maximum "
        "word length.",
        {"rule": ("word_letter", "sentence_vowel", "nth_word_letter", "lipogram", "short_words")},
        "Rewrite the text so that every word starts with the letter 's'.",
    ),
)

_REMOVAL_LABELS = {
    "emails": ("email addresses", "[EMAIL]"),
    "phones": ("phone numbers", "[PHONE]"),
    "names": ("person names", "[NAME]"),
    "dates": ("dates", "[DATE]"),
    "urls": ("URLs", "[URL]"),
    "accounts": ("bank account and card numbers", "[ACCOUNT]"),
}
_START_WORDS = ("Notably", "Today", "Here", "Indeed", "Meanwhile")
_START_LETTERS = ("T", "S", "A", "W")
_WORD_LETTERS = ("s", "p", "c", "m", "t")
_LIPOGRAM_LETTERS = ("e", "a", "o")
_LAYOUTS = {
    "bullets": ("a bulleted list, one point per line starting with '- '", [["bullet"]], 0.7),
    "numbered": ("a numbered list (1., 2., 3., ...)", [["numbered", "number"]], 0.7),
    "table": ("a markdown table with a header row", [["table"]], 0.4),
    "headings": ("sections with markdown headings (lines starting with '#')", [["heading"]], 0.7),
}
_ANNOTATIONS = {
    "bracket_notes": (
        "Add short explanatory notes in square brackets right after at least two difficult terms; keep the "
        "original wording otherwise unchanged.",
        r"\[[^\]\n]{3,}\]",
        2,
        "notes in square brackets",
        [["square bracket", "[", "brackets"]],
    ),
    "footnotes": (
        "Add numbered footnote markers such as [1] and [2] after terms that need explanation, and list the "
        "footnotes at the end; keep the original wording otherwise unchanged.",
        r"\[\d+\]",
        2,
        "footnote markers like [1]",
        [["footnote"]],
    ),
    "note_comments": (
        "Insert comments in parentheses that start with 'Note:' after the key statements; keep the original "
        "wording otherwise unchanged.",
        r"\(Note:",
        1,
        "comments starting with '(Note:'",
        [["note:"]],
    ),
}
_OBFUSCATION_LABELS = {
    "personal": "personal data (names, email addresses, phone numbers, account numbers)",
    "figures": "exact figures (every number)",
    "dates": "exact dates",
}
_NTH_WORDS = {2: "second", 3: "third", 4: "fourth"}


def _quoted(items: Sequence[str]) -> str:
    listed = [f"'{item}'" for item in items]
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " and " + listed[-1]


def _split(value: str, sep: str = ";") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def fill_params(itype: InstructionType, rng: random.Random, content: str) -> dict[str, str] | None:
    """The parameter slots of `itype` filled for `content`, or None when the content does not fit the type."""
    f = features(content)
    params = itype.fill_params(rng)
    name = itype.name
    if name == "keyword_replacement":
        if len(f.keywords) < 2:
            return None
        picked = rng.sample(list(f.keywords), k=min(len(f.keywords), rng.choice((2, 3))))
        params["words"] = ", ".join(sorted(picked, key=content.find))
    elif name == "text_removing":
        present = [
            kind
            for kind, found in (
                ("emails", f.emails),
                ("phones", f.phones),
                ("names", f.person_names),
                ("dates", f.dates),
                ("urls", f.urls),
                ("accounts", f.accounts),
            )
            if found
        ]
        if not present:
            return None
        params["entity_class"] = rng.choice(present)
        if params["entity_class"] == "names":
            params["names"] = "; ".join(f.person_names[:4])
    elif name == "text_capitalization":
        if params["target"] == "start_word":
            params["start"] = rng.choice(_START_WORDS)
        elif params["target"] == "start_letter":
            params["start"] = rng.choice(_START_LETTERS)
    elif name == "text_styling":
        if params["target"] == "numbers" and not f.numbers:
            params["target"] = "key_terms"
        if params["target"] == "names" and not f.names:
            params["target"] = "key_terms"
    elif name == "data_normalization":
        options = [
            target
            for target, found in (
                ("iso_dates", f.non_iso_dates),
                ("24h_times", f.times),
                ("metric_units", f.imperial),
                ("us_spelling", f.british),
            )
            if found
        ]
        if not options:
            return None
        params["target"] = rng.choice(options)
    elif name == "text_obfuscation":
        personal = [
            kind
            for kind, found in (
                ("emails", f.emails),
                ("phones", f.phones),
                ("accounts", f.accounts),
                ("names", f.person_names),
            )
            if found
        ]
        options = [
            target
            for target, ok in (("personal", bool(personal)), ("figures", len(f.numbers) >= 2), ("dates", f.dates))
            if ok
        ]
        if not options:
            return None
        params["target"] = rng.choice(options)
        if params["target"] == "personal":
            params["classes"] = ", ".join(personal)
            if "names" in personal:
                params["names"] = "; ".join(f.person_names[:4])
    elif name == "vocabulary_limits":
        rule = params["rule"]
        if rule == "word_letter":
            params["letter"] = rng.choice(_WORD_LETTERS)
        elif rule == "nth_word_letter":
            params["letter"] = rng.choice(_WORD_LETTERS)
            params["n"] = str(rng.choice((2, 3, 4)))
        elif rule == "lipogram":
            params["letter"] = rng.choice(_LIPOGRAM_LETTERS)
        elif rule == "short_words":
            params["max_letters"] = str(rng.choice((6, 7)))
    elif name == "text_annotation" and f.words < 20:
        return None
    return params


@dataclass(frozen=True, slots=True)
class TaskRules:
    """A filled type: the requirement in plain words, the words an instruction must name, the constraints."""

    requirement: str
    mentions: list[list[str]]
    constraints: list[Constraint]


def _c(check: str, *, shape: bool = False, **args: Any) -> Constraint:
    return {"check": check, "scope": "task", "shape": shape, **args}


def task_rules(type_name: str, params: Mapping[str, str]) -> TaskRules:
    """Requirement, mention groups and constraints of a type with its filled parameters."""
    p = dict(params)
    base = [_c("differs")]
    if type_name == "paraphrasing":
        return TaskRules(
            f"Paraphrase the text in {p.get('register', 'the same register')}: say the same thing in different "
            "words, keeping every fact, name and number.",
            [["paraphras", "rephrase", "reword", "restate", "different words"]],
            [
                *base,
                _c("ngram_overlap", shape=True, n=5, max_fraction=0.6),
                _c("word_count", shape=True, min_ratio=0.5, max_ratio=1.6),
                _c("entities_kept", kinds=["numbers"], min_fraction=0.8),
            ],
        )
    if type_name == "text_simplification":
        audience = p.get("audience", "a reader new to the subject")
        return TaskRules(
            f"Simplify the text for {audience}: short sentences and everyday words; it must not get longer.",
            [["simpl", "easier", "simple"]],
            [*base, _c("word_count", shape=True, max_ratio=1.0)],
        )
    if type_name == "text_expansion":
        ratio = float(p.get("min_ratio", "1.3"))
        names = [f"{ratio:g}", f"{round((ratio - 1) * 100)}%"] + (["twice", "double"] if ratio == 2 else [])
        return TaskRules(
            f"Expand the text with {p.get('focus', 'more detail')} so that it becomes at least {ratio:g} times as "
            "long, keeping every original fact.",
            [names],
            [
                *base,
                _c("word_count", shape=True, min_ratio=ratio, max_ratio=max(3.0, ratio + 1)),
                _c("entities_kept", kinds=["numbers"], min_fraction=0.8),
            ],
        )
    if type_name == "text_translation":
        language = p.get("target_language", "French")
        return TaskRules(
            f"Translate the text into {language}.",
            [[language]],
            [
                *base,
                _c("language", language=language),
                _c("entities_kept", kinds=["numbers"], min_fraction=0.8),
            ],
        )
    if type_name == "text_formatting":
        layout = p.get("layout", "bullets")
        if layout == "json":
            return TaskRules(
                'Reformat the text as a JSON object with the fields "title" (a short title) and "paragraphs" '
                "(a list of strings holding the text), and return only the JSON.",
                [["json"]],
                [
                    *base,
                    _c("json", shape=True, fields=["title", "paragraphs"]),
                    _c("source_kept", shape=True, min_recall=0.6),
                ],
            )
        label, mentions, recall = _LAYOUTS[layout]
        return TaskRules(
            f"Reformat the text as {label}, keeping all of its information.",
            mentions,
            [*base, _c("structure", shape=True, kind=layout), _c("source_kept", shape=True, min_recall=recall)],
        )
    if type_name == "sentiment_modification":
        sentiment = p.get("target_sentiment", "positive")
        return TaskRules(
            f"Rewrite the text so that its tone is {sentiment}, keeping the facts, names and numbers.",
            [[sentiment]],
            [*base, _c("entities_kept", kinds=["numbers"], min_fraction=0.6)],
        )
    if type_name == "text_annotation":
        requirement, pattern, minimum, label, mentions = _ANNOTATIONS[p.get("annotation", "bracket_notes")]
        return TaskRules(
            requirement,
            mentions,
            [
                *base,
                _c("pattern", pattern=pattern, min_count=minimum, label=label),
                _c("source_kept", shape=True, min_recall=0.9),
            ],
        )
    if type_name == "keyword_replacement":
        words = _split(p.get("words", ""), ",")
        replacements = _split(p.get("replacements", ""), ",")
        kind = p.get("replacement_kind", "synonyms")
        requirement = f"Replace the words {_quoted(words)} with {kind} everywhere in the text"
        if replacements:
            pairs = ", ".join(f"'{w}' with '{r}'" for w, r in zip(words, replacements, strict=True))
            requirement = f"Replace {pairs} everywhere in the text"
        return TaskRules(
            requirement + "; leave everything else unchanged.",
            [[w] for w in [*words, *replacements]],
            [
                *base,
                _c("keywords", words=words, replacements=replacements),
                _c("source_kept", shape=True, min_recall=0.75),
            ],
        )
    if type_name == "text_removing":
        kind = p.get("entity_class", "emails")
        label, placeholder = _REMOVAL_LABELS[kind]
        names = _split(p.get("names", ""))
        what = f"the person names {_quoted(names)}" if kind == "names" and names else f"all {label}"
        mode = p.get("mode", "delete")
        named: list[list[str]] = [[n] for n in names] if kind == "names" else [[label.split()[0]]]
        constraints = [*base, _c("redaction", classes=[kind], names=names)]
        if mode == "delete":
            requirement = f"Remove {what} from the text, leaving everything else as it is."
        else:
            token = "[REDACTED]" if mode == "redacted" else placeholder
            requirement = f"Replace {what} in the text with {token}, leaving everything else as it is."
            named.append([token])
            constraints.append(_c("pattern", pattern=re.escape(token), min_count=1, label=f"{token} placeholders"))
        constraints.append(_c("source_kept", shape=True, min_recall=0.6))
        return TaskRules(requirement, named, constraints)
    if type_name == "text_capitalization":
        target = p.get("target", "upper")
        kept = _c("source_kept", shape=True, min_recall=0.9)
        if target == "upper":
            return TaskRules(
                "Convert the entire text to uppercase.",
                [["uppercase", "upper case", "capital letters", "all caps"]],
                [*base, _c("case", target="upper"), kept],
            )
        if target == "lower":
            return TaskRules(
                "Convert the entire text to lowercase.",
                [["lowercase", "lower case"]],
                [*base, _c("case", target="lower"), kept],
            )
        if target == "title":
            return TaskRules(
                "Convert the text to title case: capitalize every word except short function words such as "
                "'a', 'the', 'of' and 'and'.",
                [["title case"]],
                [*base, _c("case", target="title"), kept],
            )
        if target == "sentence":
            return TaskRules(
                "Convert the text to sentence case: capitalize only the first word of each sentence and proper names.",
                [["sentence case"]],
                [*base, _c("case", target="sentence"), kept],
            )
        start = p.get("start", "T")
        if target == "start_word":
            return TaskRules(
                f"Rewrite the text so that every sentence starts with the word '{start}'.",
                [[start]],
                [*base, _c("starts_with", unit="sentence", prefix=start)],
            )
        return TaskRules(
            f"Rewrite the text so that every sentence starts with a word beginning with the letter '{start}'.",
            [[f"'{start}'", f'"{start}"', f"letter {start}"]],
            [*base, _c("starts_with", unit="sentence", prefix=start.lower())],
        )
    if type_name == "text_styling":
        style = p.get("style", "bold")
        target = p.get("target", "key_terms")
        markup = {"bold": "**bold**", "italic": "*italic*", "underline": "<u>underline</u>"}[style]
        styling: Constraint
        if target == "numbers":
            requirement = f"Put every number in the text in {style} ({markup}), changing nothing else."
            styling = _c("styling", style=style, required_from="numbers")
        elif target == "names":
            requirement = (
                f"Put every name of a person, organisation or place in {style} ({markup}), changing nothing else."
            )
            styling = _c("styling", style=style, required_from="names")
        else:
            requirement = f"Put at least three key terms of the text in {style} ({markup}), changing nothing else."
            styling = _c("styling", style=style, min_spans=3)
        return TaskRules(
            requirement,
            [[style, "underlin" if style == "underline" else style]],
            [*base, styling, _c("source_kept", shape=True, min_recall=0.9)],
        )
    if type_name == "content_rewriting":
        perspective = p.get("perspective", "a press release")
        return TaskRules(
            f"Rewrite the text as {perspective}, keeping its facts.",
            [[perspective.split()[-1]]],
            [*base, _c("entities_kept", kinds=["numbers"], min_fraction=0.6)],
        )
    if type_name == "data_normalization":
        target = p.get("target", "iso_dates")
        if target == "iso_dates":
            return TaskRules(
                "Convert every date in the text to the ISO-8601 format YYYY-MM-DD (YYYY-MM when there is no "
                "day), leaving the rest unchanged.",
                [["ISO", "YYYY-MM-DD"]],
                [*base, _c("dates_iso"), _c("source_kept", shape=True, min_recall=0.6)],
            )
        if target == "24h_times":
            return TaskRules(
                "Write every time in the text in 24-hour format HH:MM (for example 14:30 instead of 2:30 pm), "
                "leaving the rest unchanged.",
                [["24-hour", "24 hour", "HH:MM"]],
                [*base, _c("times_24h"), _c("source_kept", shape=True, min_recall=0.6)],
            )
        if target == "metric_units":
            return TaskRules(
                "Convert every measurement in the text to metric units (kilometres, metres, centimetres, "
                "kilograms, litres, degrees Celsius), leaving the rest unchanged.",
                [["metric"]],
                [*base, _c("units_metric"), _c("source_kept", shape=True, min_recall=0.6)],
            )
        return TaskRules(
            "Normalize the spelling of the text to American English (for example 'colour' becomes 'color' and "
            "'organise' becomes 'organize'), leaving the rest unchanged.",
            [["American"]],
            [*base, _c("spelling_us"), _c("source_kept", shape=True, min_recall=0.8)],
        )
    if type_name == "plagiarism_rewording":
        return TaskRules(
            f"Reword the text for {p.get('purpose', 'a school report')} so thoroughly that no run of five words "
            "is copied from it, while keeping every fact.",
            [["reword", "own words", "plagiar", "rewrite"]],
            [
                *base,
                _c("ngram_overlap", shape=True, n=5, max_fraction=0.2),
                _c("word_count", shape=True, min_ratio=0.6, max_ratio=1.6),
                _c("entities_kept", kinds=["numbers"], min_fraction=0.8),
            ],
        )
    if type_name == "code_switching":
        language = p.get("language", "Spanish")
        shown = "Hindi (in Latin script)" if language == "Hindi" else language
        return TaskRules(
            f"Rewrite the text mixing English and {shown}, switching language within and across sentences as a "
            "bilingual speaker would.",
            [[language]],
            [*base, _c("language_mix", languages=["English", language])],
        )
    if type_name == "text_obfuscation":
        target = p.get("target", "personal")
        label = _OBFUSCATION_LABELS[target]
        if target == "personal":
            classes = _split(p.get("classes", "emails"), ",")
            names = _split(p.get("names", ""))
            constraint = _c("redaction", classes=classes, names=names)
        elif target == "figures":
            constraint = _c("redaction", classes=["numbers"], names=[])
        else:
            constraint = _c("redaction", classes=["dates"], names=[])
        return TaskRules(
            f"Obfuscate the text by making its {label} deliberately vague (for example 'a colleague', "
            "'several hundred', 'early that year'), so that none of the exact values can be recovered.",
            [["obfuscat", "vague", "mask"]],
            [*base, constraint],
        )
    if type_name == "textual_entailment":
        relation = p.get("relation", "entails")
        reference = p.get("reference", "").strip()
        verb = "entails" if relation == "entails" else "contradicts"
        requirement = (
            f'Rewrite the text so that it {verb} this statement: "{reference}"'
            if reference
            else f"Rewrite the text so that it {verb} a short statement about its topic that you quote."
        )
        return TaskRules(
            requirement,
            [[reference]] if reference else [],
            list(base),
        )
    if type_name == "vocabulary_limits":
        rule = p.get("rule", "word_letter")
        letter = p.get("letter", "s")
        least = _c("word_count", shape=True, min_ratio=0.3)
        if rule == "word_letter":
            return TaskRules(
                f"Rewrite the text so that every word starts with the letter '{letter}'.",
                [[f"'{letter}'", f'"{letter}"', f"letter {letter}"]],
                [*base, _c("starts_with", unit="word", prefix=letter), least],
            )
        if rule == "sentence_vowel":
            return TaskRules(
                "Rewrite the text so that every sentence starts with a vowel (a, e, i, o, u).",
                [["vowel"]],
                [*base, _c("starts_with", unit="sentence", prefix="vowel"), least],
            )
        if rule == "nth_word_letter":
            n = int(p.get("n", "3"))
            return TaskRules(
                f"Rewrite the text so that every {_NTH_WORDS.get(n, str(n) + 'th')} word starts with the letter "
                f"'{letter}'.",
                [[_NTH_WORDS.get(n, str(n))], [f"'{letter}'", f'"{letter}"', f"letter {letter}"]],
                [*base, _c("starts_with", unit="word", prefix=letter, every=n), least],
            )
        if rule == "lipogram":
            return TaskRules(
                f"Rewrite the text without using the letter '{letter}' in any word.",
                [[f"'{letter}'", f'"{letter}"', f"letter {letter}"]],
                [*base, _c("letter_absent", letter=letter), least],
            )
        max_letters = int(p.get("max_letters", "6"))
        return TaskRules(
            f"Rewrite the text using only words of at most {max_letters} letters.",
            [[str(max_letters)]],
            [*base, _c("max_word_length", max_letters=max_letters), least],
        )
    raise KeyError(f"unknown text modification type {type_name!r}")


def _mentions_ok(instruction: str, mentions: Sequence[Sequence[str]]) -> bool:
    low = instruction.lower()
    return all(any(alt.lower() in low for alt in group if alt) for group in mentions if group)


def anchor_instruction(instruction: str, rules: TaskRules) -> str:
    """The instruction, with the canonical requirement appended when it fails to name a key parameter."""
    text = re.split(r"\n\s*Text:\s*\n", instruction.strip(), maxsplit=1)[0].strip()
    if tc.word_count(text) < MIN_INSTRUCTION_WORDS or tc.word_count(text) > MAX_INSTRUCTION_WORDS:
        return rules.requirement
    if _mentions_ok(text, rules.mentions):
        return text
    if not text.endswith((".", "!", "?", ":")):
        text += "."
    return f"{text} {rules.requirement}"


# ----
# LLM output models
# ----
class WrittenTask(BaseModel):
    instruction: str = Field(description="the modification instruction for the student, without the text itself")
    reference_sentence: str = Field(
        default="",
        description="only for textual_entailment: the statement the rewritten text must entail or contradict",
    )
    replacements: list[str] = Field(
        default_factory=list,
        description="only for keyword_replacement: the new word for each word to replace, in the same order",
    )


class WrittenTasks(BaseModel):
    tasks: list[WrittenTask] = Field(min_length=1, max_length=3, description="the instructions written")


class ModificationEdit(EditedItem):
    """The Editor's answer: the new instruction plus the constraints it adds, as structured fields."""

    context: str = Field(default="", description="leave empty: the text to modify stays the same")
    instruction: str = Field(description="the rewritten, harder modification instruction")
    answer: str = Field(default="", description="leave empty")
    min_words: int = Field(default=0, ge=0, description="minimum word count of the answer, or 0 for none")
    max_words: int = Field(default=0, ge=0, description="maximum word count of the answer, or 0 for none")
    keep_entities: list[str] = Field(
        default_factory=list, description="names, numbers or dates copied from the text that must stay unchanged"
    )
    json_fields: list[str] = Field(
        default_factory=list, description="if the answer must be a JSON object: its field names, else empty"
    )
    span: str = Field(
        default="", description="if only one part of the text is to be modified: that part copied exactly, else empty"
    )


# ----
# Refinement goals
# ----
REFINEMENT_GOALS: tuple[RefinementGoal, ...] = (
    RefinementGoal("narrative", "frame the modified text as a short fictional story that still carries every fact"),
    RefinementGoal("poem", "render the modified text as a poem with a rhyme scheme, keeping every key fact"),
    RefinementGoal("social_post", "frame it as a social-media post: a length limit, hashtags, emojis"),
    RefinementGoal("combine", "combine two modification types in one instruction (e.g. simplify, then translate)"),
    RefinementGoal("span", "apply the modification only to one named sentence or passage, the rest unchanged"),
    RefinementGoal("keep_entities", "require a list of named entities, numbers or dates to be preserved exactly"),
    RefinementGoal("word_window", "require the answer's length to fall inside a word-count window"),
    RefinementGoal("json_output", "require the answer as a JSON object with given fields"),
    RefinementGoal("audience", "change the target audience (a child, an expert, a non-native speaker)"),
)

SPAN_TYPES = frozenset(
    {
        "text_capitalization",
        "text_translation",
        "paraphrasing",
        "sentiment_modification",
        "text_simplification",
        "text_expansion",
        "content_rewriting",
        "plagiarism_rewording",
        "vocabulary_limits",
    }
)
"""Types whose constraints still make sense on a single sentence (the `span` goal)."""
_COMBINABLE = ("text_capitalization", "text_styling", "text_translation", "text_simplification", "text_removing")
REWORDING_TYPES = frozenset({"text_translation", "text_simplification"})
"""Second modifications that change the wording, so the first type's "keep the original words" no longer holds."""
_NO_TRANSLATION_AFTER = frozenset(
    {
        "keyword_replacement",
        "vocabulary_limits",
        "code_switching",
        "data_normalization",
        "text_capitalization",
        "text_translation",
        "textual_entailment",
        "text_annotation",
    }
)
_NO_CASE_AFTER = frozenset({"text_capitalization", "vocabulary_limits", "text_styling"})
_GOAL_HINTS = {
    "narrative": "Ask for the modified text told as a short story; list in keep_entities the facts that must stay.",
    "poem": "Ask for the modified text as a poem of at least four lines with a rhyme scheme, keeping the key facts.",
    "social_post": "Ask for the modified text as a social-media post with at least one hashtag; set max_words.",
    "span": "Copy one sentence of the text exactly into span and ask to apply the modification only to it.",
    "keep_entities": "Copy two to four names, numbers or dates of the text into keep_entities and require them.",
    "word_window": "Set min_words and max_words to a sensible window and state it in the instruction.",
    "json_output": "Ask for a JSON object; give its field names in json_fields (one field holds the modified text).",
    "audience": "Name the new audience in the instruction and what changes for it.",
}


# ----
# The skill
# ----
_PREAMBLE_RE = re.compile(
    r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is| are)\b[^\n]*|(?:the\s+)?(?:modified|rewritten|revised|edited|"
    r"transformed)\s+text\s*:?)\s*:?\s*\n+",
    re.IGNORECASE,
)
_FENCE_RE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def clean_answer(text: str) -> str:
    """The modified text alone: a leading "Here is..." line, a wrapping code fence or quotes removed."""
    out = text.strip()
    out = _PREAMBLE_RE.sub("", out, count=1).strip()
    fenced = _FENCE_RE.match(out)
    if fenced:
        out = fenced.group(1).strip()
    if out.startswith('"""') and out.endswith('"""') and len(out) > 6:
        out = out[3:-3].strip()
    if out.lower().startswith("text:\n"):
        out = out[6:].strip()
    return out


class TextModification(Skill):
    name: ClassVar[str] = SKILL_NAME
    split: ClassVar[str] = "text_modification"
    title: ClassVar[str] = "Text Modification"
    description: ClassVar[str] = (
        "editing a given text to change one of its attributes (case, length, language, format, tone, vocabulary, "
        "personal data...) exactly as instructed, returning only the modified text"
    )
    seed_kinds: ClassVar[frozenset[str]] = frozenset({"text", "markdown"})
    transform_agents: ClassVar[tuple[TransformAgent, ...]] = (ExcerptAgent(), *LLM_AGENTS)
    transforms_per_seed: ClassVar[int] = 1
    instruction_types: ClassVar[tuple[InstructionType, ...]] = INSTRUCTION_TYPES
    refinement_goals: ClassVar[tuple[RefinementGoal, ...]] = REFINEMENT_GOALS
    judge_rubric: ClassVar[str] = (
        "The user asks for a modification of the given text. Grade whether the assistant's answer (1) applies "
        "exactly the requested modification and every stated constraint, (2) preserves the meaning and facts "
        "of the text unless the instruction says otherwise, (3) is only the modified text, with no preface or "
        "commentary, and (4) reads naturally. The instruction itself must be clear and doable for the text."
    )
    suggest_prompt: ClassVar[str] = f"{SKILL_NAME}/suggest"
    teacher_prompt: ClassVar[str] = f"{SKILL_NAME}/teacher"
    refine_suggest_prompt: ClassVar[str] = f"{SKILL_NAME}/refine_suggest"
    edit_prompt: ClassVar[str] = f"{SKILL_NAME}/refine_edit"

    # ---- content transformation -------------------------------------------------------------------------------
    def pick_transform_agents(self, seed: Seed) -> list[TransformAgent]:
        rng = rng_for(seed.id, self.name, "transform")
        if rng.random() < IDENTITY_SHARE:
            return [self.transform_agents[0]]
        return [rng.choice(LLM_AGENTS)]

    # ---- seed instruction generation --------------------------------------------------------------------------
    def candidate_types(self, item: Transformed) -> Sequence[InstructionType]:
        probe = random.Random(0)
        return [t for t in self.instruction_types if fill_params(t, probe, item.content) is not None]

    def pick_instruction_types(
        self, item: Transformed, config: FlowConfig
    ) -> list[tuple[InstructionType, dict[str, str]]]:
        """One type per content (the paper: one of 18 agents per seed), favouring the transform's own types."""
        if config.max_instruction_types < 1:
            return []
        rng = rng_for(item.id, self.name, "types")
        allowed = list(self.candidate_types(item))
        if not allowed:
            return []
        preferred = AGENT_PREFERENCES.get(item.lineage.transform_agent or "", ())
        favoured = [t for t in allowed if t.name in preferred]
        pool = favoured if favoured and rng.random() < PREFERRED_SHARE else allowed
        itype = rng.choice(pool)
        params = fill_params(itype, rng, item.content)
        if params is None:
            return []
        return [(itype, params)]

    def render_suggest(
        self, item: Transformed, itype: InstructionType, params: dict[str, str], count: int
    ) -> list[dict[str, str]]:
        return load_prompt(self.suggest_prompt).render(
            skill=self,
            itype=itype,
            params=params,
            requirement=task_rules(itype.name, params).requirement,
            content=item.content,
            count=count,
        )

    async def suggest(
        self,
        item: Transformed,
        itype: InstructionType,
        params: dict[str, str],
        ctx: StageContext,
        calls: Calls,
    ) -> list[Draft]:
        count = max(1, ctx.config.max_instructions_per_type)
        template = load_prompt(self.suggest_prompt)
        result = await ctx.llm.generate(
            Role.SUGGEST, self.render_suggest(item, itype, params, count), WrittenTasks, prompt=template.ref
        )
        calls.add(result.record)
        drafts: list[Draft] = []
        seen: set[str] = set()
        for task in result.parsed.tasks[:count]:
            draft = self.build_task(item, itype, params, task)
            if draft is None or draft.instruction.lower() in seen:
                continue
            seen.add(draft.instruction.lower())
            drafts.append(draft)
        if not drafts:
            raise AgentOutputError(f"{itype.name}: no usable instruction (entailment tasks need a statement)")
        return drafts

    def build_task(
        self, item: Transformed, itype: InstructionType, params: dict[str, str], task: WrittenTask
    ) -> Draft | None:
        """A draft whose instruction names its parameters and whose data holds its checkable constraints."""
        filled = dict(params)
        if itype.name == "textual_entailment":
            reference = " ".join(task.reference_sentence.split())
            if tc.word_count(reference) < 4:
                return None
            filled["reference"] = reference
        if itype.name == "keyword_replacement":
            words = _split(filled.get("words", ""), ",")
            replacements = [" ".join(r.split()) for r in task.replacements]
            if len(replacements) == len(words) and all(
                r and w.lower() not in r.lower() and r.lower() not in words
                for w, r in zip(words, replacements, strict=True)
            ):
                filled["replacements"] = ", ".join(replacements)
        rules = task_rules(itype.name, filled)
        instruction = anchor_instruction(task.instruction, rules)
        return Draft(
            instruction=instruction,
            context=item.content,
            answer_key=None,
            data={
                "task_type": itype.name,
                "params": filled,
                "requirement": rules.requirement,
                "constraints": rules.constraints,
            },
        )

    # ---- refinement --------------------------------------------------------------------------------------------
    def accept_suggestion(self, instruction: Instruction, goal: str, index: int) -> bool:
        """Skip goals that cannot combine with the item: a span after a change of form, JSON twice, and so on."""
        constraints = self.constraints_of(instruction)
        kinds = {c.get("check") for c in constraints}
        path = set(instruction.lineage.refinement_path)
        if goal == "span":
            return (
                instruction.data.get("task_type") in SPAN_TYPES
                and not kinds & {"span", "json"}
                and not path & (SHAPE_GOALS | {"combine"})
            )
        if goal in SHAPE_GOALS and "span" in kinds:
            return False
        if goal == "json_output":
            return "json" not in kinds
        if goal == "combine":
            return "combine" not in path and "span" not in kinds and self.combination_for(instruction) is not None
        return True

    def combination_for(self, instruction: Instruction) -> tuple[InstructionType, dict[str, str]] | None:
        """The second modification a `combine` edit adds (deterministic by item id), if one fits."""
        first = str(instruction.data.get("task_type", ""))
        rng = rng_for(instruction.id, self.name, "combine")
        options = [name for name in _COMBINABLE if name != first]
        if first in _NO_TRANSLATION_AFTER:
            options = [n for n in options if n != "text_translation"]
        if first in _NO_CASE_AFTER:
            options = [n for n in options if n != "text_capitalization"]
        if first in ("text_expansion", "text_formatting", "text_annotation"):
            options = [n for n in options if n != "text_simplification"]
        if first in ("text_removing", "text_obfuscation"):
            options = [n for n in options if n != "text_removing"]
        rng.shuffle(options)
        for name in options:
            itype = self.instruction_type(name)
            params = fill_params(itype, rng, instruction.context)
            if params is None:
                continue
            if name == "text_capitalization":
                params = {"target": rng.choice(("upper", "lower"))}
            if name == "text_styling" and params.get("target") == "names":
                params["target"] = "key_terms"
            return itype, params
        return None

    def edit_hint(self, instruction: Instruction, goal: str) -> str:
        """Goal-specific guidance for the Editor (rendered into its prompt)."""
        if goal == "combine":
            combo = self.combination_for(instruction)
            if combo is None:
                return "Add a second modification to the task."
            itype, params = combo
            return f"Add this second modification to the task: {task_rules(itype.name, params).requirement}"
        return _GOAL_HINTS.get(goal, "")

    def render_edit(self, instruction: Instruction, goal: str, suggestion: str) -> list[dict[str, str]]:
        goal_spec = next((g for g in self.refinement_goals if g.name == goal), self.refinement_goals[0])
        return load_prompt(self.edit_prompt).render(
            skill=self,
            item=instruction,
            goal=goal_spec,
            suggestion=suggestion,
            hint=self.edit_hint(instruction, goal),
            requirements=[tc.describe(c) for c in self.constraints_of(instruction) if c.get("check") != "differs"],
        )

    async def edit(
        self, instruction: Instruction, goal: str, suggestion: str, ctx: StageContext, calls: Calls
    ) -> Draft:
        template = load_prompt(self.edit_prompt)
        result = await ctx.llm.generate(
            Role.EDIT, self.render_edit(instruction, goal, suggestion), ModificationEdit, prompt=template.ref
        )
        calls.add(result.record)
        return self.apply_modification_edit(instruction, result.parsed, goal)

    def apply_edit(self, instruction: Instruction, edited: EditedItem, goal: str) -> Draft:
        if isinstance(edited, ModificationEdit):
            return self.apply_modification_edit(instruction, edited, goal)
        return self.apply_modification_edit(
            instruction, ModificationEdit(instruction=edited.instruction, context=edited.context), goal
        )

    def apply_modification_edit(self, instruction: Instruction, edited: ModificationEdit, goal: str) -> Draft:
        """A new draft: the Editor's instruction, the parent's constraints plus the goal's (anchored in the text)."""
        text = re.split(r"\n\s*Text:\s*\n", edited.instruction.strip(), maxsplit=1)[0].strip()
        if not text or " ".join(text.split()).lower() == " ".join(instruction.instruction.split()).lower():
            raise AgentOutputError(f"{goal}: the editor did not change the instruction")
        if tc.word_count(text) > 2 * MAX_INSTRUCTION_WORDS:
            raise AgentOutputError(f"{goal}: the edited instruction has more than {2 * MAX_INSTRUCTION_WORDS} words")
        source = instruction.context
        constraints = [dict(c) for c in self.constraints_of(instruction)]
        if goal in SHAPE_GOALS:
            constraints = [c for c in constraints if not c.get("shape")]
        added: list[Constraint] = []
        sentences = self._lost_requirements(instruction, text)
        data_extra: dict[str, Any] = {}

        keep = self._entities_to_keep(edited.keep_entities, source, constraints, required=goal == "keep_entities")
        if keep:
            added.append({"check": "entities_kept", "entities": keep, "scope": "all", "shape": False})
            if not all(e.lower() in text.lower() for e in keep):
                sentences.append("Keep these exactly as written: " + ", ".join(f'"{e}"' for e in keep) + ".")

        if goal == "word_window" or (goal == "social_post" and edited.max_words):
            low, high = self._word_window(edited, source, constraints, goal)
            window: Constraint = {"check": "word_count", "scope": "all", "shape": False, "max_words": high}
            if low:
                window["min_words"] = low
            constraints = [c for c in constraints if not (c.get("check") == "word_count" and c.get("scope") == "all")]
            added.append(window)
            if str(high) not in text or (low and str(low) not in text):
                sentences.append(
                    f"The answer must be between {low} and {high} words long." if low else f"Use at most {high} words."
                )
        if goal == "json_output":
            fields = [f for f in (re.sub(r"\W", "_", f.strip()).strip("_") for f in edited.json_fields) if f][:5]
            fields = list(dict.fromkeys(fields)) or ["modified_text"]
            added.append({"check": "json", "fields": fields, "scope": "all", "shape": False})
            if "json" not in text.lower() or not all(f in text for f in fields):
                listed = ", ".join(f'"{f}"' for f in fields)
                sentences.append(f"Return only a JSON object with the field(s) {listed}, holding the modified text.")
        if goal == "span":
            span = self._span(edited.span, instruction)
            added.append({"check": "span", "span": span, "scope": "all", "shape": False})
            if " ".join(span.split()) not in " ".join(text.split()):
                sentences.append(f'Apply the change only to this part and copy the rest unchanged: "{span}"')
        if goal == "poem":
            added.append({"check": "line_count", "min_lines": 4, "scope": "all", "shape": False})
            if not re.search(r"poem|verse|rhym", text, re.IGNORECASE):
                sentences.append("Write it as a rhyming poem of at least four lines.")
        if goal == "social_post":
            added.append({"check": "pattern", "pattern": r"#\w+", "min_count": 1, "label": "hashtags", "scope": "all"})
            if "#" not in text and "hashtag" not in text.lower():
                sentences.append("Format it as a social-media post with at least one hashtag.")
        if goal == "narrative" and not re.search(r"stor|narrat|tale", text, re.IGNORECASE):
            sentences.append("Tell it as a short story.")
        if goal == "combine":
            combo = self.combination_for(instruction)
            if combo is None:
                raise AgentOutputError("combine: no second modification fits this task")
            itype, params = combo
            rules = task_rules(itype.name, params)
            second = [c for c in rules.constraints if c.get("check") != "differs"]
            if "json" in {c.get("check") for c in constraints}:
                second = [c for c in second if not c.get("shape")]
            if itype.name in REWORDING_TYPES:
                constraints = [c for c in constraints if c.get("check") != "source_kept"]
            added.extend(second)
            data_extra["combined_with"] = {"task_type": itype.name, "params": params}
            if not _mentions_ok(text, rules.mentions):
                sentences.append(rules.requirement)

        if sentences:
            if not text.endswith((".", "!", "?", ":")):
                text += "."
            text = " ".join([text, *sentences])
        refined = [*instruction.data.get("refinement_goals", []), goal]
        return Draft(
            instruction=text,
            context=source,
            answer_key=None,
            data={
                **instruction.data,
                **data_extra,
                "constraints": [*constraints, *added],
                "refinement_goal": goal,
                "refinement_goals": refined,
            },
        )

    def _lost_requirements(self, instruction: Instruction, text: str) -> list[str]:
        """The requirements of the item's type(s) that the edited instruction no longer names."""
        lost: list[str] = []
        parts = [instruction.data]
        combined = instruction.data.get("combined_with")
        if isinstance(combined, dict):
            parts.append(combined)
        for part in parts:
            type_name = part.get("task_type")
            params = part.get("params")
            if not isinstance(type_name, str) or not isinstance(params, dict):
                continue
            rules = task_rules(type_name, {str(k): str(v) for k, v in params.items()})
            if not _mentions_ok(text, rules.mentions):
                lost.append(rules.requirement)
        return lost

    def _entities_to_keep(
        self, proposed: Sequence[str], source: str, constraints: Sequence[Constraint], *, required: bool
    ) -> list[str]:
        """Entities from the Editor that occur in the text and do not clash with a removal, a replacement or a
        translation (which rewrites dates)."""
        forbidden: list[str] = []
        for c in constraints:
            if c.get("check") == "redaction":
                forbidden.extend(str(n) for n in c.get("names", []))
                for kind in c.get("classes", []):
                    if kind != "names":
                        forbidden.extend(tc.REDACTION_CLASSES[str(kind)](source))
            if c.get("check") == "keywords":
                forbidden.extend(str(w) for w in c.get("words", []))
        flat_source = " ".join(source.split()).lower()
        translated = any(c.get("check") in ("language", "language_mix") for c in constraints)

        def usable(entity: str) -> bool:
            low = entity.lower()
            if translated and tc.extract_dates(entity):
                return False
            return (
                bool(low)
                and low in flat_source
                and not any(f.lower() in low or low in f.lower() for f in forbidden if f)
            )

        keep = [e for e in dict.fromkeys(" ".join(p.split()) for p in proposed) if usable(e)][:6]
        if not keep and required:
            keep = [e for e in tc.extract_entities(source, ("names", "dates", "numbers")) if usable(e)][:4]
            if not keep:
                raise AgentOutputError("keep_entities: the text has no entity that may be kept")
        return keep

    def _word_window(
        self, edited: ModificationEdit, source: str, constraints: Sequence[Constraint], goal: str
    ) -> tuple[int, int]:
        """A word window inside the type's relative bounds: the Editor's when it fits, else one around them."""
        base = max(1, tc.word_count(source))
        low_ratio = max([float(c["min_ratio"]) for c in constraints if c.get("min_ratio") is not None] or [0.0])
        high_ratios = [float(c["max_ratio"]) for c in constraints if c.get("max_ratio") is not None]
        lowest = math.ceil(low_ratio * base)
        highest = math.floor(min(high_ratios) * base) if high_ratios else None
        low = 0 if goal == "social_post" else edited.min_words
        high = edited.max_words
        if high or low:
            fits = high > 0 and low <= high and high >= max(5, lowest) and (highest is None or low <= highest)
            if not fits:
                shown = f"{highest}" if highest is not None else "∞"
                raise AgentOutputError(
                    f"{goal}: the window [{low}, {high}] words does not fit the task's bounds [{lowest}, {shown}]"
                )
            return max(low, lowest) if low else 0, min(high, highest) if highest is not None else high
        if goal == "social_post":
            raise AgentOutputError("social_post: no max_words given")
        if highest is not None and lowest:
            centre = (lowest + highest) / 2
        elif highest is not None:
            centre = highest * 0.75
        elif lowest:
            centre = lowest * 1.25
        else:
            centre = base
        low = max(lowest, int(centre * 0.8))
        high = int(max(low + 10, centre * 1.2))
        if highest is not None:
            high = min(high, highest)
        if low > high or high < 5:
            raise AgentOutputError("word_window: no window fits the task's length bounds")
        return low, high

    def _span(self, proposed: str, instruction: Instruction) -> str:
        source = instruction.context
        span = " ".join(proposed.split()).strip("\"'“”")
        if tc.word_count(span) >= 4 and tc.locate_span(source, span) is not None and span != " ".join(source.split()):
            return span
        choices = [s for s in tc.sentences(source) if tc.word_count(s) >= 6 and tc.locate_span(source, s)]
        if len(choices) < 2:
            raise AgentOutputError("span: the text has no sentence to single out")
        return rng_for(instruction.id, self.name, "span").choice(choices)

    # ---- teacher -----------------------------------------------------------------------------------------------
    def constraints_of(self, instruction: Instruction) -> list[Constraint]:
        raw = instruction.data.get("constraints")
        if not isinstance(raw, list):
            return [{"check": "differs", "scope": "task", "shape": False}]
        return [c for c in raw if isinstance(c, dict)]

    def user_message(self, instruction: Instruction) -> str:
        return f"{instruction.instruction}\n\nText:\n{instruction.context}"

    def render_answer(self, instruction: Instruction, answer: TeacherAnswer) -> str:
        return clean_answer(answer.answer)

    def skill_checks_brief(self, instruction: Instruction) -> list[str]:
        briefs = ["Return only the modified text: no title, preface, explanation or quotes around it."]
        briefs.extend(tc.describe(c) for c in self.constraints_of(instruction) if c.get("check") != "not_empty")
        return list(dict.fromkeys(briefs))

    def evaluate_answer(self, instruction: Instruction, answer: str) -> list[CheckResult]:
        return tc.evaluate(self.constraints_of(instruction), answer, instruction.context)

    async def answer(self, instruction: Instruction, ctx: StageContext, calls: Calls) -> TeacherOutput:
        """Teacher, then reflection rounds: failed programmatic checks are the flaws to fix when there are any;
        otherwise an LLM critique looks for what the checks cannot see (meaning, tone, lost facts)."""
        user_message = self.user_message(instruction)
        checks = self.skill_checks_brief(instruction)
        teacher = load_prompt(self.teacher_prompt)
        first = await ctx.llm.generate(
            Role.TEACHER,
            teacher.render(skill=self, instruction=instruction, user_message=user_message, checks=checks),
            TeacherAnswer,
            prompt=teacher.ref,
        )
        calls.add(first.record)
        current = first.parsed
        history: list[dict[str, Any]] = []
        for _round in range(ctx.config.reflection_rounds):
            failed = [r for r in self.evaluate_answer(instruction, clean_answer(current.answer)) if not r.passed]
            flaws = [f"{r.name.removeprefix('skill.')}: {r.detail}" for r in failed]
            source = "checks"
            if not flaws:
                source = "critique"
                critic = load_prompt(CRITIQUE_PROMPT)
                critique = await ctx.llm.generate(
                    Role.TEACHER,
                    critic.render(skill=self, user_message=user_message, answer=current, checks=checks),
                    Critique,
                    prompt=critic.ref,
                )
                calls.add(critique.record)
                flaws = [flaw.strip() for flaw in critique.parsed.flaws if flaw.strip()]
                if critique.parsed.verdict.strip().lower().startswith("ok") and not flaws:
                    history.append({"flaws": [], "revised": False, "source": source})
                    break
                flaws = flaws or ["the reviewer asked for a revision without naming a flaw"]
            reviser = load_prompt(REVISE_PROMPT)
            revised = await ctx.llm.generate(
                Role.TEACHER,
                reviser.render(skill=self, user_message=user_message, answer=current, flaws=flaws, checks=checks),
                TeacherAnswer,
                prompt=reviser.ref,
            )
            calls.add(revised.record)
            current = revised.parsed
            history.append({"flaws": flaws, "revised": True, "source": source})
        return TeacherOutput(
            turns=[{"role": "assistant", "content": self.render_answer(instruction, current)}],
            data={"reflection": history, "reasoning": current.reasoning},
        )

    # ---- validation --------------------------------------------------------------------------------------------
    async def check(self, candidate: Candidate, ctx: StageContext, calls: Calls) -> list[CheckResult]:
        final = candidate.messages[-1].content if candidate.messages else ""
        return self.evaluate_answer(candidate.instruction, final)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["agent_descriptions"] = {
            agent.name: str(getattr(agent, "description", "")) for agent in self.transform_agents
        }
        out["subcategory_params"] = {t.name: sorted(t.params) for t in self.instruction_types}
        out["checks"] = sorted(tc.CONSTRAINT_KINDS)
        return out


register(TextModification())
