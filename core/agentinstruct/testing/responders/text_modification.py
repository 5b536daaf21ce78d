"""Mock-server answers for the text-modification prompts, read from the rendered prompt text.

The transformation agents write notices, emails, product sheets, schedules and records with invented names,
contact details, dates in mixed formats, am/pm times and imperial units, so every data-dependent type has
material. The instruction writer states the requirement it is given. The teacher (and the reviser) solve the
verifiable requirements mechanically from the requirement lines of their prompt: case changes, sentence
openers, redaction, ISO dates, 24-hour times, metric units, US spelling, styling, keyword replacement, lists,
JSON, span-only edits, word limits. So runs against the mock yield pairs that pass the checks, and pairs
that fail for visible reasons: types the mock cannot really perform (translation, code switching,
paraphrase, vocabulary limits, expansion...) get a lightly edited copy that the language, copy, letter and
length checks reject, and the Editor's social-media word limit is sometimes too tight for the text.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from agentinstruct.checks import text_constraints as tc
from agentinstruct.testing.mock_server import ChatRequest, register_responder

_PEOPLE = ("Maria Lopez", "David Chen", "Sarah Miller", "James Okafor", "Anna Novak", "Peter Lindqvist")
_CITIES = ("Boston", "Lyon", "Toronto", "Melbourne", "Leeds", "Dublin")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SYNONYMS = {
    "important": "significant",
    "quickly": "rapidly",
    "large": "big",
    "small": "little",
    "start": "begin",
    "begin": "start",
    "help": "assist",
    "show": "display",
    "information": "details",
    "people": "individuals",
    "problem": "issue",
    "method": "approach",
    "result": "outcome",
    "results": "outcomes",
    "change": "alteration",
}
_NEUTRAL = ("element", "aspect", "feature", "matter", "component", "factor")
_BRITISH_TO_US = {
    "colour": "color",
    "favour": "favor",
    "honour": "honor",
    "labour": "labor",
    "neighbour": "neighbor",
    "behaviour": "behavior",
    "flavour": "flavor",
    "humour": "humor",
    "rumour": "rumor",
    "organis": "organiz",
    "realis": "realiz",
    "recognis": "recogniz",
    "analys": "analyz",
    "apologis": "apologiz",
    "prioritis": "prioritiz",
    "summaris": "summariz",
    "centre": "center",
    "metre": "meter",
    "litre": "liter",
    "theatre": "theater",
    "fibre": "fiber",
    "calibre": "caliber",
    "programme": "program",
    "catalogue": "catalog",
    "dialogue": "dialog",
    "defence": "defense",
    "offence": "offense",
    "licence": "license",
    "travelled": "traveled",
    "travelling": "traveling",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "modelled": "modeled",
    "jewellery": "jewelry",
    "grey": "gray",
    "aluminium": "aluminum",
    "tyre": "tire",
    "cheque": "check",
    "enrol": "enroll",
}


# ----
# Reading the prompt
# ----
def _user(request: ChatRequest) -> str:
    return request.user_text


def _quoted(text: str) -> str:
    match = re.search(r'"""\n?(.*?)\n?"""', text, re.S)
    return match.group(1).strip() if match else text


def _after(text: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s*(.*)$", text, re.M)
    return match.group(1).strip() if match else ""


def _bullets(text: str, heading: str) -> list[str]:
    """The '- ' lines that follow `heading` in the prompt."""
    _, found, rest = text.partition(heading)
    if not found:
        return []
    lines = []
    for line in rest.splitlines()[1:]:
        if line.startswith("- "):
            lines.append(line[2:].strip())
        elif lines or line.strip():
            break
    return lines


def _split_request(user_message: str) -> tuple[str, str]:
    """(instruction, text) of a rendered `<instruction>\\n\\nText:\\n<text>` user turn."""
    instruction, _, text = user_message.partition("\n\nText:\n")
    return instruction.strip(), text


def _teacher_request(prompt: str) -> tuple[str, str, list[str]]:
    """(instruction, text, requirement lines) from the teacher prompt."""
    body, _, _ = prompt.partition("\n\nYour modified text must satisfy:")
    body = body.split('\n\nReturn "reasoning"', 1)[0]
    instruction, text = _split_request(body)
    return instruction, text.strip("\n"), _bullets(prompt, "Your modified text must satisfy:")


def _review_request(prompt: str) -> tuple[str, str, list[str]]:
    """(instruction, text, requirement lines) from the critique and revise prompts."""
    instruction, text = _split_request(_quoted(prompt))
    return instruction, text.strip("\n"), _bullets(prompt, "Requirements the modified text must meet:")


# ----
# Transformation agents: realistic texts with data to modify
# ----
def _date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2023, 2026), rng.randint(1, 12), rng.randint(1, 28)


def _long_date(rng: random.Random) -> str:
    year, month, day = _date(rng)
    return f"{_MONTHS[month - 1]} {day}, {year}"


def _slash_date(rng: random.Random) -> str:
    year, month, day = _date(rng)
    return f"{month:02d}/{day:02d}/{year}"


def _time(rng: random.Random) -> str:
    hour = rng.randint(1, 12)
    minute = rng.choice((0, 15, 30, 45))
    suffix = rng.choice(("am", "pm"))
    return f"{hour}:{minute:02d} {suffix}" if minute else f"{hour} {suffix}"


def _email(name: str) -> str:
    first, last = name.lower().split()
    return f"{first}.{last}@example.org"


def _phone(rng: random.Random) -> str:
    return f"+1 (617) 555-{rng.randint(1000, 9999)}"


def _topic(prompt: str) -> str:
    words = [
        w
        for w in re.findall(r"[A-Za-z]{5,}", _quoted(prompt))
        if w.lower() not in tc.wordset("which there their about")
    ]
    return " ".join(words[:2]).lower() or "community science"


@register_responder("text_modification/transform_event_notice")
def transform_event_notice(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    topic = _topic(_user(request))
    host, speaker = rng.sample(_PEOPLE, 2)
    city = rng.choice(_CITIES)
    text = (
        f"The {city} Forum on {topic.title()} will take place on {_long_date(rng)} at the Riverside Conference "
        f"Centre, 42 Harbour Street, {city}. Doors open at {_time(rng)} and the closing session ends at "
        f"{_time(rng)}.\n\n"
        f"The forum brings together researchers, practitioners and students to discuss recent work on {topic}. "
        f"The keynote will be given by {speaker}, who has studied the subject for 12 years. Up to 250 "
        f"participants can attend, and the venue is 3 miles from the central station.\n\n"
        f"Abstracts of at most 300 words must be submitted by {_slash_date(rng)}. Registration costs 45 dollars "
        f"and closes on {_long_date(rng)}. For questions, contact the organiser {host} at {_email(host)}."
    )
    return {"title": f"{city} Forum on {topic.title()}", "text": text}


@register_responder("text_modification/transform_email")
def transform_email(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    topic = _topic(_user(request))
    sender, recipient = rng.sample(_PEOPLE, 2)
    text = (
        f"Dear {recipient.split()[0]},\n\n"
        f"Thank you for your note about the {topic} project. I have reviewed the draft and I think we can "
        f"finish the first part by {_long_date(rng)}. The team found 14 open issues, and 9 of them are already "
        f"fixed. The remaining work needs about 6 more days, so I would like to move our review meeting to "
        f"{_time(rng)} on {_long_date(rng)}.\n\n"
        f"Could you also send me the latest budget figures? The last version showed 12,500 dollars spent out of "
        f"20,000.\n\n"
        f"Best regards,\n{sender}\nProject Coordinator\nPhone: {_phone(rng)}\nEmail: {_email(sender)}"
    )
    return {"title": f"Update on the {topic} project", "text": text}


@register_responder("text_modification/transform_product_description")
def transform_product_description(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    topic = _topic(_user(request))
    model = f"{rng.choice(('Nova', 'Atlas', 'Vega', 'Orion'))} {rng.randint(2, 9)}00"
    text = (
        f"The {model} is a portable field kit for anyone who works on {topic}. It was designed by Brightline "
        f"Instruments and released on {_long_date(rng)}.\n\n"
        f"The case measures 18 inches by 12 inches and weighs 7 pounds, so it fits in a standard backpack. The "
        f"battery lasts 10 hours and the built-in tank holds 2 gallons. The sensors work between 14 °F and "
        f"104 °F.\n\n"
        f"The {model} costs 349 dollars and comes with a 2-year warranty. It is an important tool for teams that "
        f"need quick and reliable measurements in remote places."
    )
    return {"title": model, "text": text}


@register_responder("text_modification/transform_structured_data")
def transform_structured_data(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    topic = _topic(_user(request))
    lines = [f"Field log: {topic}"]
    for index in range(1, 5):
        lines.append(
            f"Day {index} ({_long_date(rng) if index % 2 else _slash_date(rng)}): the crew left at {_time(rng)} "
            f"and covered {rng.randint(3, 12)} miles. Water used: {rng.randint(2, 9)} gallons. "
            f"Temperature at noon: {rng.randint(40, 95)} °F."
        )
    lines.append(f"Next review: {_long_date(rng)} at {_time(rng)}. Our organisation will summarise the colour data.")
    return {"title": f"Field log: {topic}", "text": "\n".join(lines)}


@register_responder("text_modification/transform_personal_data")
def transform_personal_data(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    topic = _topic(_user(request))
    client, agent = rng.sample(_PEOPLE, 2)
    text = (
        f"Case note about a {topic} complaint, recorded on {_long_date(rng)}.\n\n"
        f"The customer, {client}, born {_slash_date(rng)}, called at {_time(rng)} to report a billing error. "
        f"{client.split()[0]} can be reached at {_email(client)} or {_phone(rng)}. The refund of 180 dollars "
        f"should go to account DE89 3704 0044 0532 0130 00.\n\n"
        f"The case was handled by {agent} ({_email(agent)}), who promised an answer within 5 working days."
    )
    return {"title": f"Case note: {client}", "text": text}


# ----
# Instruction writer, Suggester, Editor
# ----
@register_responder("text_modification/suggest")
def suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = _user(request)
    requirement = _after(prompt, "Requirement the instruction must state:")
    text = _quoted(prompt)
    tasks: list[dict[str, Any]] = []
    openers = ("", "Please edit the text as follows. ", "Edit the text below. ")
    count = 2 if "Write 2" in prompt else 1
    for index in range(count):
        task: dict[str, Any] = {"instruction": openers[(index + rng.randint(0, 2)) % 3] + requirement}
        if "reference_sentence" in prompt:
            sentences = [s for s in tc.sentences(text) if tc.word_count(s) >= 5]
            first = sentences[index % len(sentences)] if sentences else "The text describes an event."
            task["reference_sentence"] = first
            task["instruction"] = f'Rewrite the text so that it {_after(prompt, "- relation:") or "entails"} "{first}"'
        if "replacements" in prompt:
            words = [w.strip() for w in _after(prompt, "- words:").split(",") if w.strip()]
            task["replacements"] = [_SYNONYMS.get(w, rng.choice(_NEUTRAL)) for w in words]
        tasks.append(task)
    return {"tasks": tasks}


@register_responder("text_modification/refine_suggest")
def refine_suggest(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = _user(request)
    goals = re.findall(r"^- (\w+): ", prompt, re.M) or ["narrative"]
    count = int(_after(prompt, "Propose").split()[0]) if _after(prompt, "Propose")[:1].isdigit() else 2
    picked = rng.sample(goals, k=min(count, len(goals)))
    return {"suggestions": [{"goal": g, "suggestion": f"Make the task harder through {g}."} for g in picked]}


@register_responder("text_modification/refine_edit")
def refine_edit(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    prompt = _user(request)
    goal = _after(prompt, "Refinement goal:").split(" ", 1)[0]
    instruction = _after(prompt, "Current instruction:")
    text = _quoted(prompt)
    count = tc.word_count(text)
    out: dict[str, Any] = {"instruction": instruction, "min_words": 0, "max_words": 0}
    if goal == "word_window":
        out["min_words"], out["max_words"] = max(1, int(count * 0.8)), int(count * 1.2) + 5
        out["instruction"] += f" Keep the answer between {out['min_words']} and {out['max_words']} words."
    elif goal == "keep_entities":
        out["keep_entities"] = tc.extract_entities(text, ("names", "dates"))[:3]
        out["instruction"] += " Keep every name and date exactly as written."
    elif goal == "json_output":
        out["json_fields"] = ["modified_text"]
        out["instruction"] += ' Return only a JSON object {"modified_text": ...}.'
    elif goal == "span":
        sentences = [s for s in tc.sentences(text) if tc.word_count(s) >= 6]
        out["span"] = sentences[min(1, len(sentences) - 1)] if sentences else ""
        out["instruction"] += " Apply it only to the second sentence."
    elif goal == "social_post":
        out["max_words"] = rng.choice((60, count + 40))
        out["instruction"] += " Present it as a social-media post with hashtags."
    elif goal == "poem":
        out["instruction"] += " Write the result as a rhyming poem."
    elif goal == "narrative":
        out["instruction"] += " Frame the result as a short story."
    elif goal == "audience":
        out["instruction"] += " The result is for readers who are new to the subject."
    else:
        out["instruction"] += " " + _after(prompt, "How to apply it:").removeprefix(
            "Add this second modification to the task: "
        )
    return out


# ----
# Teacher and reviewer: a mechanical editor for the verifiable requirements
# ----
def _apply_case(text: str, requirement: str) -> str:
    if requirement == "Every letter is upper case.":
        return text.upper()
    if requirement == "Every letter is lower case.":
        return text.lower()
    if requirement.startswith("Title case"):
        small = {"a", "an", "the", "and", "but", "or", "of", "in", "on", "at", "to", "for", "by", "with"}

        def title(match: re.Match[str]) -> str:
            word = match.group(0)
            return word if word.lower() in small and match.start() > 0 else word[:1].upper() + word[1:]

        return re.sub(r"[^\W\d_][\w'’-]*", title, text)
    if requirement.startswith("Sentence case"):
        return " ".join(s[:1].upper() + s[1:].lower() for s in re.split(r"(?<=[.!?])\s+", text.replace("\n", " ")))
    return text


def _start_sentences(text: str, word: str) -> str:
    sentences = tc.sentences(text)
    return " ".join(
        f"{word}, {s[:1].lower()}{s[1:]}" if not s.lower().startswith(word.lower()) else s for s in sentences
    )


def _placeholder(instruction: str) -> str:
    match = re.search(r"\[[A-Z]+\]", instruction)
    return match.group(0) if match else "[REDACTED]"


def _redact(text: str, requirement: str, instruction: str) -> str:
    token = _placeholder(instruction)
    spec = requirement.lower()
    items: list[str] = []
    if "email" in spec:
        items += tc.extract_emails(text)
    if "url" in spec:
        items += tc.extract_urls(text)
    if "phone" in spec:
        items += tc.extract_phones(text)
    if "account" in spec:
        items += tc.extract_accounts(text)
    if "dates" in spec:
        items += tc.extract_dates(text)
    if "exact numbers" in spec:
        for number in sorted(tc.standalone_numbers(text), key=len, reverse=True):
            text = re.sub(rf"(?<![\w.,]){re.escape(number)}(?![\w]|[.,]\d)", "several", text)
    if "person names" in spec:
        names = re.findall(r"person names ([^;]+?)(?:;|\.$)", requirement)
        for name in names[0].split(", ") if names else []:
            items.append(name)
            if " " in name:
                items.append(name.split()[-1])
                items.append(name.split()[0])
    for item in sorted(set(items), key=len, reverse=True):
        text = text.replace(item, token)
    return text


def _month_number(name: str) -> int:
    return next(i for i, m in enumerate(_MONTHS, 1) if m.lower().startswith(name.lower()[:3]))


def _iso_dates(text: str) -> str:
    months = "|".join(_MONTHS)
    text = re.sub(
        rf"\b({months})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b",
        lambda m: f"{m.group(3)}-{_month_number(m.group(1)):02d}-{int(m.group(2)):02d}",
        text,
    )
    text = re.sub(
        rf"\b(\d{{1,2}})\s+({months}),?\s+(\d{{4}})\b",
        lambda m: f"{m.group(3)}-{_month_number(m.group(2)):02d}-{int(m.group(1)):02d}",
        text,
    )
    text = re.sub(
        r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b", lambda m: f"{m.group(3)}-{int(m.group(1)):02d}-{int(m.group(2)):02d}", text
    )
    return re.sub(rf"\b({months}),?\s+(\d{{4}})\b", lambda m: f"{m.group(2)}-{_month_number(m.group(1)):02d}", text)


def _hours24(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        hour = int(match.group(1)) % 12 + (12 if match.group(3).lower().startswith("p") else 0)
        return f"{hour:02d}:{match.group(2) or '00'}"

    return re.sub(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s*([ap])\.?m\.?(?!\w)", convert, text, flags=re.I)


def _metric(text: str) -> str:
    factors = {
        "miles": (1.609, "km"),
        "mile": (1.609, "km"),
        "inches": (2.54, "cm"),
        "feet": (0.305, "m"),
        "pounds": (0.454, "kg"),
        "gallons": (3.785, "litres"),
    }

    def convert(match: re.Match[str]) -> str:
        value = float(match.group(1).replace(",", ""))
        unit = match.group(2).lower()
        if unit.startswith("°") or unit == "f":
            return f"{round((value - 32) * 5 / 9)} °C"
        factor, metric = factors[unit]
        return f"{round(value * factor, 1):g} {metric}"

    return re.sub(r"\b(\d[\d,.]*)\s*(miles?|inches|feet|pounds|gallons|°\s?F)", convert, text, flags=re.I)


def _us_spelling(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        american = _BRITISH_TO_US[word.lower()]
        return american.capitalize() if word[0].isupper() else american

    pattern = "|".join(sorted(_BRITISH_TO_US, key=len, reverse=True))
    return re.sub(rf"\b(?:{pattern})", swap, text, flags=re.I)


def _style(text: str, requirement: str) -> str:
    style = next((s for s in ("bold", "italic", "underline") if f" {s} " in requirement), "bold")
    wrap: Callable[[str], str] = {
        "bold": lambda s: f"**{s}**",
        "italic": lambda s: f"*{s}*",
        "underline": lambda s: f"<u>{s}</u>",
    }[style]
    if requirement.startswith("Every number"):
        targets = tc.standalone_numbers(text)
    elif requirement.startswith("Every name"):
        targets = tc.extract_names(text)
    else:
        targets = sorted({w for w in tc.words(text) if len(w) >= 8}, key=text.find)[:3]
    for target in sorted(set(targets), key=len, reverse=True):
        text = re.sub(rf"(?<![\w*<>]){re.escape(target)}(?![\w*<])", wrap(target), text, count=1)
    return text


def _replace_keywords(text: str, requirement: str) -> str:
    words = requirement.split(":", 1)[1].split(";")[0].strip(" .").split(", ")
    replacements = (
        requirement.split("use instead:", 1)[1].strip(" .").split(", ") if "use instead:" in requirement else []
    )
    for index, word in enumerate(words):
        new = replacements[index] if index < len(replacements) else _SYNONYMS.get(word, "element")
        text = re.sub(rf"\b{re.escape(word)}(s|es|ed|d|ing)?\b", new, text, flags=re.I)
    return text


def _layout(text: str, requirement: str) -> str:
    sentences = tc.sentences(text)
    if "bulleted" in requirement:
        return "\n".join(f"- {s}" for s in sentences)
    if "numbered" in requirement:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
    if "table" in requirement:
        rows = "\n".join(f"| {i} | {s.replace('|', '/')} |" for i, s in enumerate(sentences, 1))
        return f"| # | Statement |\n|---|---|\n{rows}"
    if "headings" in requirement:
        return "\n\n".join(f"## Part {i}\n{s}" for i, s in enumerate(sentences, 1))
    return text


def _edit_span(text: str, span: str, edit: Callable[[str], str]) -> str:
    flat = " ".join(text.split())
    index = flat.find(span)
    if index < 0:
        return edit(text)
    return flat[:index] + edit(span) + flat[index + len(span) :]


def solve(instruction: str, text: str, requirements: list[str], rng: random.Random) -> str:
    """The modified text, meeting the requirements the mock knows how to meet."""

    def edit(part: str) -> str:
        changed = False
        for requirement in requirements:
            before = part
            if requirement.startswith(("Every letter is", "Title case", "Sentence case")):
                part = _apply_case(part, requirement)
            elif requirement.startswith("Every sentence starts with the word"):
                part = _start_sentences(part, requirement.split("'")[1])
            elif requirement.startswith("None of these may remain"):
                part = _redact(part, requirement, instruction)
            elif requirement.startswith("Every date is written in ISO-8601"):
                part = _iso_dates(part)
            elif requirement.startswith("Every time is in 24-hour"):
                part = _hours24(part)
            elif requirement.startswith("Every measurement is in metric"):
                part = _metric(part)
            elif requirement.startswith("American spelling"):
                part = _us_spelling(part)
            elif requirement.startswith(("Every number of the text is in", "Every name of the text is in", "Mark at")):
                part = _style(part, requirement)
            elif requirement.startswith("These words no longer appear"):
                part = _replace_keywords(part, requirement)
            elif requirement.startswith("Layout:"):
                part = _layout(part, requirement)
            elif requirement.startswith("Contains at least") and "square brackets" in requirement:
                part = re.sub(r"\b(\w{9,})\b", r"\1 [a technical term]", part, count=2)
            changed = changed or part != before
        if not changed:
            part = f"In other words: {part}" if rng.random() < 0.5 else part.replace(". ", "; ", 1)
        return part

    span = next((r.split('"', 1)[1].rsplit('"', 1)[0] for r in requirements if r.startswith("Change only")), "")
    result = _edit_span(text, span, edit) if span else edit(text)
    limit = next((r for r in requirements if r.startswith("Length:") and "at most" in r), "")
    most = re.search(r"at most (\d+) words", limit)
    if most and len(result.split()) > int(most.group(1)):
        result = " ".join(result.split()[: int(most.group(1))])
    if any(r.startswith("Contains at least") and "hashtags" in r for r in requirements):
        result += " #update #news"
    if any(r.startswith("At least") and "lines" in r for r in requirements):
        result = "\n".join(tc.sentences(result)) or result
    fields = next((r for r in requirements if r.startswith("The answer is only a valid JSON object")), "")
    if fields:
        names = re.findall(r"(\w+)(?:,|\.$| )", fields.split("fields", 1)[1]) if "fields" in fields else []
        names = [n for n in names if n not in ("and",)] or ["modified_text"]
        if names == ["title", "paragraphs"]:
            paragraphs = [p.strip() for p in result.split("\n\n") if p.strip()]
            result = json.dumps({"title": " ".join(result.split()[:5]), "paragraphs": paragraphs}, ensure_ascii=False)
        else:
            result = json.dumps(dict.fromkeys(names, result), ensure_ascii=False)
    return result


@register_responder("text_modification/teacher")
def teacher(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    instruction, text, requirements = _teacher_request(_user(request))
    answer = solve(instruction, text, requirements, rng)
    prefix = "Here is the modified text:\n\n" if rng.random() < 0.15 else ""
    return {"reasoning": f"Apply: {instruction[:200]}", "answer": prefix + answer}


@register_responder("text_modification/revise")
def revise(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    instruction, text, requirements = _review_request(_user(request))
    return {"reasoning": "Fixed the listed flaws.", "answer": solve(instruction, text, requirements, rng)}


@register_responder("text_modification/critique")
def critique(request: ChatRequest, rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.1:
        return {"flaws": ["one requirement is only partly met"], "verdict": "revise"}
    return {"flaws": [], "verdict": "ok"}
