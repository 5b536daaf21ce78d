"""Mock-server answers for the reading-comprehension prompts, read from the rendered prompt text.

The passages are built from the seed's sentences; the question writer makes questions whose answers can be
found mechanically in the passage (which option is a sentence of the passage, how a quoted sentence ends, how
often a word occurs, in what order sentences appear...); the teacher and the re-answerer solve them the same
way, without seeing the key. So a run against the mock yields pairs that pass the rc checks, plus some that
fail for visible reasons: the question writer sometimes labels a wrong key (caught by
`skill.answer_matches_key`), the teacher and the re-answerer sometimes slip (`skill.answer_matches_key`,
`skill.reanswer_agrees_key`), a transformation sometimes comes out too short (`agent.unusable_output`), and
FLIP edits of matching questions keep the same answer (rejected by the Editor's coherence rules).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from agentinstruct.skills.rc import ANSWER_HINTS, LETTERS, RC_TYPES, UNANSWERABLE_KEY, AnswerKind
from agentinstruct.testing.mock_server import ChatRequest, register_responder

_TYPES = {t.name: t for t in RC_TYPES}
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_SPEAKER_PREFIX = re.compile(r"^[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}(?: \([^)]*\))?:\s*")
_OPTION = re.compile(r"^\(([A-E])\)\s+(.*)$")
_WORD = re.compile(r"[a-z0-9]+")
_NAMES = ("Alex", "Blair", "Casey", "Devon", "Emery", "Frankie")
_FILLER = (
    "Observers have discussed this topic for many years.",
    "Several reports describe the same pattern in other places.",
    "Experts continue to study the question with new methods.",
    "Local groups have shared their own records of these events.",
)


# ----
# Reading the prompt
# ----
def _quoted(text: str) -> str:
    """The first triple-quoted block of the prompt."""
    match = re.search(r'"""\n?(.*?)\n?"""', text, re.S)
    return match.group(1).strip() if match else text


def _after(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s*(.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = _SPEAKER_PREFIX.sub("", line.strip()).lstrip("0123456789. ")
        for sentence in _SENTENCE_SPLIT.split(line):
            sentence = sentence.strip()
            # sentences with colons or numbered items would confuse the numbered lists built from them
            usable = ":" not in sentence and not re.search(r"\d\.\s", sentence)
            if usable and len(sentence.split()) >= 5 and sentence[-1:] in ".!?":
                out.append(sentence)
    return list(dict.fromkeys(out))


def _seed_sentences(prompt: str) -> list[str]:
    sentences = _sentences(_quoted(prompt))
    return sentences or list(_FILLER)


def _split_item(message: str) -> tuple[str, str, list[str]]:
    """(passage, question, options) from a rendered rc user message."""
    passage, _, rest = message.partition("\n\nQ: ")
    question_lines: list[str] = []
    options: list[str] = []
    for line in rest.splitlines():
        match = _OPTION.match(line.strip())
        if match:
            options.append(match.group(2).strip())
        elif line.strip() and not options:
            question_lines.append(line.strip())
    return passage.strip(), " ".join(question_lines), options


def _kind_from_hint(prompt: str) -> AnswerKind:
    for kind, hint in ANSWER_HINTS.items():
        if hint in prompt:
            return kind
    return AnswerKind.SHORT


# ----
# Transformation agents
# ----
def _grow(parts: list[str], sentences: Sequence[str], min_chars: int, make: Callable[[str, int], str]) -> list[str]:
    index = 0
    pool = list(sentences) + list(_FILLER)
    while len("\n".join(parts)) < min_chars:
        parts.append(make(pool[index % len(pool)], index))
        index += 1
    return parts


def _passage(title: str, text: str, rng: random.Random, *, short_rate: float = 0.08) -> dict[str, Any]:
    if rng.random() < short_rate:
        text = text[:120]
    return {"title": title, "text": text}


@register_responder("rc/transform_argument")
def transform_argument(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    parts = ["Some readers doubt the following account, but the evidence deserves attention."]
    parts = _grow(parts, sentences, 700, lambda s, i: ("Moreover, " if i % 2 else "First, ") + s[0].lower() + s[1:])
    parts.append(f"Therefore, it is reasonable to conclude that {sentences[0][0].lower()}{sentences[0][1:]}")
    return _passage("An argument from the evidence", " ".join(parts), rng)


@register_responder("rc/transform_debate")
def transform_debate(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    debaters = _NAMES[:3]
    lines = ["Moderator: Welcome. Tonight we debate what the evidence on this topic shows."]
    lines = _grow(lines, sentences, 800, lambda s, i: f"{debaters[i % 3]}: {'I claim that' if i < 3 else 'Yet'} {s}")
    lines.append("Moderator: Thank you all for a lively exchange.")
    return _passage("A debate", "\n\n".join(lines), rng)


@register_responder("rc/transform_conversation")
def transform_conversation(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    lines = [f"{_NAMES[0]}: Did you read about this?", f"{_NAMES[1]}: A little. Tell me more."]
    lines = _grow(lines, sentences, 500, lambda s, i: f"{_NAMES[i % 2]}: {s}")
    return _passage("A conversation", "\n".join(lines), rng)


@register_responder("rc/transform_meeting_transcript")
def transform_meeting(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    lines = [
        "Dana (Chair): Agenda: 1. review of the findings; 2. next steps.",
        "Dana (Chair): Let us start with the findings.",
    ]
    lines = _grow(lines, sentences, 600, lambda s, i: f"{_NAMES[i % 3]}: {s}")
    lines += [
        "Dana (Chair): Decision: we publish the summary. Action item: Alex drafts it by March 3.",
        "Blair: I will check the figures by March 10.",
    ]
    return _passage("Meeting notes", "\n".join(lines), rng)


@register_responder("rc/transform_poem")
def transform_poem(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    lines: list[str] = []
    for sentence in (sentences * 4)[:8]:
        words = sentence.split()
        half = len(words) // 2
        lines += [" ".join(words[:half]), " ".join(words[half:])]
    return _passage("A poem", "\n".join(lines[:24]), rng)


@register_responder("rc/transform_satirical")
def transform_satirical(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    parts = ["In a development that has stunned absolutely no one, experts confirmed the obvious once again."]
    parts = _grow(parts, sentences, 500, lambda s, i: s)
    parts.append("Surely nothing more needs to be said.")
    return _passage("Breaking news", " ".join(parts), rng)


@register_responder("rc/transform_instructional")
def transform_instructional(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    sentences = _seed_sentences(request.user_text)
    lines = ["Prerequisites: read the whole guide before you start."]
    lines = _grow(lines, sentences, 500, lambda s, i: f"{i + 1}. {s}")
    lines.append("Warning: do not skip any step.")
    return _passage("How to proceed", "\n".join(lines), rng)


@register_responder("rc/transform_long_text")
def transform_long_text(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    seed = _quoted(request.user_text)
    sentences = _seed_sentences(request.user_text)
    parts = [seed]
    year = 1990 + rng.randint(0, 25)
    extra = [f"In {year + i}, a further study recorded {10 + 7 * i} related cases." for i in range(40)]
    index = 0
    while len("\n\n".join(parts)) < 2 * len(seed) + 200:
        parts.append(" ".join([*extra[index : index + 2], sentences[index % len(sentences)]]))
        index += 2
    return _passage("A longer account", "\n\n".join(parts), rng)


# ----
# Question writer
# ----
def _alter(sentence: str, rng: random.Random) -> str:
    """A sentence that reads like one of the passage but is not in it."""
    words = sentence.rstrip(".!?").split()
    choice = rng.randrange(3)
    if choice == 0 and len(words) > 3:
        words.insert(min(2, len(words) - 1), "never")
    elif choice == 1 and len(words) > 4:
        i = rng.randrange(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    else:
        words.append("in every single case")
    return " ".join(words) + "."


def _distinct_options(correct: str, sentences: Sequence[str], n: int, rng: random.Random) -> list[str]:
    others = [s for s in sentences if s != correct]
    options: list[str] = []
    attempts = 0
    while len(options) < n - 1 and attempts < 50:
        base = rng.choice(others) if others else correct
        altered = _alter(base, rng)
        if _norm(altered) not in {_norm(o) for o in options} and _norm(altered) != _norm(correct):
            options.append(altered)
        attempts += 1
    return options


def _mcq(sentences: Sequence[str], n: int, rng: random.Random, stem: str) -> dict[str, Any]:
    correct = rng.choice(sentences)
    options = _distinct_options(correct, sentences, n, rng)
    position = rng.randrange(n)
    options.insert(position, correct)
    key = LETTERS[position]
    if rng.random() < 0.1:  # a careless question writer: the key points at a distractor
        key = LETTERS[(position + 1) % n]
    return {
        "question": f"{stem} Which one of the following statements does the passage make?",
        "options": options,
        "answer": key,
    }


def _question(kind: AnswerKind, n: int, sentences: Sequence[str], passage: str, rng: random.Random) -> dict[str, Any]:
    picks = rng.sample(list(sentences), k=min(4, len(sentences)))
    if kind is AnswerKind.MCQ:
        return _mcq(sentences, n, rng, "Based on the passage:")
    if kind is AnswerKind.NUMBER:
        words = [w for w in _WORD.findall(passage.lower()) if len(w) > 4]
        word = rng.choice(words) if words else "the"
        count = len(re.findall(rf"\b{re.escape(word)}\b", passage.lower()))
        return {
            "question": f'How many times does the word "{word}" appear in the passage?',
            "options": [],
            "answer": str(count),
        }
    if kind is AnswerKind.LABELS:
        true_first = rng.random() < 0.5
        real, fake = picks[0], _alter(picks[-1], rng)
        first, second = (real, fake) if true_first else (fake, real)
        labels = "True, False" if true_first else "False, True"
        return {
            "question": f"Label each statement True or False according to the passage: 1. {first} 2. {second}",
            "options": [],
            "answer": labels,
        }
    if kind is AnswerKind.ORDER and len(picks) >= 2:
        shuffled = picks[:]
        rng.shuffle(shuffled)
        listing = " ".join(f"{i + 1}. {s}" for i, s in enumerate(shuffled))
        ordered = sorted(shuffled, key=lambda s: passage.find(s))
        order = ", ".join(str(shuffled.index(s) + 1) for s in ordered)
        return {
            "question": f"Put these sentences in the order in which they appear in the passage: {listing}",
            "options": [],
            "answer": order,
        }
    if kind is AnswerKind.MATCH and len(picks) >= 2:
        heads, tails = [], []
        for sentence in picks[:3]:
            words = sentence.split()
            half = max(1, len(words) // 2)
            heads.append(" ".join(words[:half]))
            tails.append(" ".join(words[half:]))
        letters = list(LETTERS[: len(tails)])
        rng.shuffle(letters)
        lettered = sorted(zip(letters, tails, strict=True))
        listing = " ".join(f"{i + 1}. {h}" for i, h in enumerate(heads))
        endings = " ".join(f"{letter}. {t}" for letter, t in lettered)
        pairs = ", ".join(f"{i + 1}-{letters[i]}" for i in range(len(heads)))
        return {
            "question": f"Match each beginning with its ending as in the passage: {listing} {endings}",
            "options": [],
            "answer": pairs,
        }
    if kind in (AnswerKind.OPEN, AnswerKind.ESSAY):
        return {
            "question": "Summarize what the passage says, citing its main points.",
            "options": [],
            "answer": " ".join(picks[:2]),
        }
    sentence = picks[0]
    words = sentence.split()
    cut = max(2, len(words) // 2)
    return {
        "question": f'Complete the sentence from the passage: "{" ".join(words[:cut])} ..."',
        "options": [],
        "answer": " ".join(words[cut:]).rstrip("."),
    }


@register_responder("rc/suggest")
def suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    passage = _quoted(prompt)
    itype = _TYPES.get(_after(prompt, "Question type:"))
    kind = itype.kind if itype is not None else AnswerKind.SHORT
    n = itype.n_options if itype is not None and itype.n_options else 4
    count_match = re.search(r"Write (\d+) different question", prompt)
    count = int(count_match.group(1)) if count_match else 1
    sentences = _sentences(passage) or list(_FILLER)
    return {"questions": [_question(kind, n, sentences, passage, rng) for _ in range(max(1, min(count, 3)))]}


# ----
# Solving (teacher and re-answerer)
# ----
def _solve(kind: AnswerKind, passage: str, question: str, options: Sequence[str]) -> tuple[str, str]:
    """(reasoning, answer) found mechanically; the answer is 'not answerable' when nothing fits."""
    npassage = _norm(passage)
    if kind is AnswerKind.MCQ:
        found = [i for i, option in enumerate(options) if _norm(option) and _norm(option) in npassage]
        if len(found) == 1:
            i = found[0]
            return f'The passage states: "{options[i]}" The other options are not stated.', LETTERS[i]
        return "None of the options is stated in the passage.", UNANSWERABLE_KEY
    match = re.search(r'the word "([^"]+)"', question)
    if kind is AnswerKind.NUMBER and match:
        count = len(re.findall(rf"\b{re.escape(match.group(1))}\b", passage.lower()))
        if count == 0:
            return f'The passage never uses "{match.group(1)}".', UNANSWERABLE_KEY
        return f'Counting the occurrences of "{match.group(1)}" gives {count}.', str(count)
    items = [s.strip() for s in re.split(r"\s\d+\.\s", " " + question.split(":", 1)[-1]) if s.strip()]
    if kind is AnswerKind.LABELS:
        labels = ["True" if _norm(s) in npassage else "False" for s in items]
        return "Each statement was compared with the passage.", ", ".join(labels)
    if kind is AnswerKind.ORDER:
        positions = sorted(range(len(items)), key=lambda i: npassage.find(_norm(items[i])))
        return "The sentences were located in the passage.", ", ".join(str(i + 1) for i in positions)
    if kind is AnswerKind.MATCH:
        body = question.split(":", 1)[-1]
        ends = dict(re.findall(r"\b([A-E])\.\s(.*?)(?=\s[A-E]\.\s|$)", body))
        heads = [re.sub(r"\s[A-E]\.\s.*$", "", h) for h in items]
        pairs = []
        for i, head in enumerate(heads):
            for letter, tail in sorted(ends.items()):
                if _norm(f"{head} {tail}") in npassage:
                    pairs.append(f"{i + 1}-{letter}")
                    break
        return "Each beginning was joined to the ending found in the passage.", ", ".join(pairs)
    quoted = re.search(r'"(.+?) \.\.\."', question)
    if quoted:
        start = _norm(quoted.group(1))
        for sentence in _sentences(passage):
            if _norm(sentence).startswith(start):
                rest = sentence.split()[len(quoted.group(1).split()) :]
                return f'The passage says: "{sentence}"', " ".join(rest).rstrip(".")
        return "The passage does not contain that sentence.", UNANSWERABLE_KEY
    first = (_sentences(passage) or [passage])[:2]
    return "The passage's main points are these.", " ".join(first)


@register_responder("rc/teacher")
def teacher(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    passage, question, options = _split_item(_quoted(prompt))
    kind = _kind_from_hint(prompt)
    if kind is AnswerKind.ESSAY:
        points = (_sentences(passage) or [passage])[:4]
        body = " ".join(f"The passage states that {p[0].lower()}{p[1:]}" for p in points)
        essay = (
            f"The passage makes several connected points. {body} Each of these statements adds a piece of "
            "evidence, and the author arranges them so that a reader can follow the argument from one detail to "
            "the next. Taken together, these points support the passage's main idea, although a careful reader "
            "may still ask for more sources before accepting every claim."
        )
        return {"reasoning": "Plan: restate the points, then evaluate them.", "answer": essay}
    reasoning, answer = _solve(kind, passage, question, options)
    if kind is AnswerKind.MCQ and answer in LETTERS and rng.random() < 0.08:  # an occasional slip
        answer = LETTERS[(LETTERS.index(answer) + 1) % max(len(options), 1)]
    return {"reasoning": f"Step 1: find the relevant part of the passage. Step 2: {reasoning}", "answer": answer}


@register_responder("rc/reanswer")
def reanswer(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    passage, question, options = _split_item(_quoted(prompt))
    reasoning, answer = _solve(_kind_from_hint(prompt), passage, question, options)
    if answer == UNANSWERABLE_KEY:
        return {"reasoning": reasoning, "answerable": False, "answer": ""}
    if rng.random() < 0.05 and options and answer in LETTERS:
        answer = LETTERS[(LETTERS.index(answer) + 2) % len(options)]
    return {"reasoning": reasoning, "answerable": True, "answer": answer}


# ----
# Refinement
# ----
@register_responder("rc/refine_suggest")
def refine_suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    goals = re.findall(r"^- (HARDER|FLIP|UNANSWERABLE):", prompt, re.M) or ["HARDER"]
    count_match = re.search(r"Propose (\d+) suggestion", prompt)
    count = int(count_match.group(1)) if count_match else 2
    text = {
        "HARDER": "Add a hypothetical reader to the question and make the wrong options closer to the right one.",
        "FLIP": "Replace the sentence that supports the answer so that another option becomes correct.",
        "UNANSWERABLE": "Remove the sentence that supports the answer from the passage.",
    }
    return {"suggestions": [{"goal": (g := rng.choice(goals)), "suggestion": text[g]} for _ in range(count)]}


def _without(passage: str, target: str) -> str:
    """The passage without the sentences whose normalized text contains `target`'s."""
    wanted = _norm(target)
    kept = [s for s in _SENTENCE_SPLIT.split(passage) if wanted not in _norm(s)]
    return " ".join(kept)


@register_responder("rc/refine_edit")
def refine_edit(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = request.user_text
    passage = _quoted(prompt)
    question = _after(prompt, "Question:")
    options = [m.group(2) for line in prompt.splitlines() if (m := _OPTION.match(line.strip()))]
    key = _after(prompt, "Answer key:")
    goal = _after(prompt, "Goal:")
    kind = _kind_from_hint(prompt) if not options else AnswerKind.MCQ
    if goal == "UNANSWERABLE":
        target = options[LETTERS.index(key)] if options and key in LETTERS[: len(options)] else question
        quoted = re.search(r'"(.+?)(?: \.\.\.)?"', question)
        if not options and quoted:
            target = quoted.group(1)
        return {
            "passage": _without(passage, target),
            "question": question,
            "options": options,
            "answer": UNANSWERABLE_KEY,
        }
    if goal == "FLIP":
        if options and key in LETTERS[: len(options)]:
            new = rng.choice([i for i in range(len(options)) if LETTERS[i] != key])
            old_text = options[LETTERS.index(key)]
            flipped = passage.replace(old_text, options[new]) if old_text in passage else passage
            return {"passage": flipped, "question": question, "options": options, "answer": LETTERS[new]}
        word = re.search(r'the word "([^"]+)"', question)
        if kind is AnswerKind.NUMBER and word and key.isdigit():
            extra = f" The {word.group(1)} was mentioned once more."
            return {"passage": passage + extra, "question": question, "options": [], "answer": str(int(key) + 1)}
        head = re.search(r'"(.+?) \.\.\."', question)
        if kind is AnswerKind.SHORT and head and f"{head.group(1)} {key}" in passage:
            new_tail = "was reported quite differently in later accounts"
            flipped = passage.replace(f"{head.group(1)} {key}", f"{head.group(1)} {new_tail}")
            return {"passage": flipped, "question": question, "options": [], "answer": new_tail}
        if kind is AnswerKind.LABELS:
            items = [s.strip() for s in re.split(r"\s\d+\.\s", " " + question.split(":", 1)[-1]) if s.strip()]
            missing = [s for s in items if _norm(s) not in _norm(passage)]
            if missing:
                labels = ", ".join("True" for _ in items)
                return {"passage": f"{passage} {missing[0]}", "question": question, "options": [], "answer": labels}
        return {"passage": passage + " This was confirmed again.", "question": question, "options": [], "answer": key}
    harder = f"Suppose a reader relies only on the passage. {question}"
    if options and key in LETTERS[: len(options)]:
        correct = options[LETTERS.index(key)]
        shuffled = options[:]
        rng.shuffle(shuffled)
        return {"passage": "", "question": harder, "options": shuffled, "answer": LETTERS[shuffled.index(correct)]}
    return {"passage": "", "question": harder, "options": [], "answer": key}
