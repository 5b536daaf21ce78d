"""Programmatic checks of verifiable text-modification constraints (method doc §4 item 5, §8.3 "Validation").

Every check is a pure function of the modified text (and, where the constraint is relative, the source text)
returning a `CheckResult` named `skill.<constraint>`. A task stores its constraints as plain dicts
(`{"check": <kind>, ...arguments}`), so `evaluate` can run them from a candidate alone, and `describe` turns
them into the plain-language requirements the teacher critiques its answer against.

Heuristics (entity extraction, sentence splitting, language identification by function words) are kept simple
and deterministic; they are written to accept correct answers and reject visible misses, not to be NLP.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agentinstruct_schemas import CheckResult


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`, as a set (for readable word lists)."""
    return frozenset(text.split())


# ----
# Tokenising
# ----
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_TOKEN_RE = re.compile(r"\S+")
_WRAPPED_LINE_RE = re.compile(r"(?<=[^\s.!?:])[ \t]*\r?\n[ \t]*(?=[a-z(])")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n+")
_URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w-])")
_ACCOUNT_RE = re.compile(
    r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b|\b\d{4}(?:[ -]?\d{4}){2,4}\b|\b\d{9,18}\b"
)
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_DIGITS_RE = re.compile(r"\d+")
_PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z_ ]*\]")
_MARKUP_RE = re.compile(r"\*+|</?u>|(?<!\w)_+|_+(?!\w)|^#+\s*|`", re.MULTILINE)

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_ISO_DATE_RE = re.compile(r"\b\d{4}-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?\b")
_NON_ISO_DATE_RES = (
    re.compile(rf"\b(?:{_MONTHS})\.?\s+{_DAY}(?:,?\s+\d{{4}})?\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}(?:\s+of)?\s+(?:{_MONTHS})\.?(?:,?\s+\d{{4}})?\b", re.IGNORECASE),
    re.compile(rf"\b(?:{_MONTHS})\.?,?\s+\d{{4}}\b", re.IGNORECASE),
    re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})\b"),
    re.compile(r"\b\d{4}/\d{1,2}/\d{1,2}\b"),
)
_TIME_12H_RE = re.compile(r"\b(?:1[0-2]|0?[1-9])(?:[:.][0-5]\d)?\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)", re.IGNORECASE)
_TIME_24H_RE = re.compile(r"\b(?:[01]\d|2[0-3]):[0-5]\d\b")
_IMPERIAL_RE = re.compile(
    r"\b\d[\d,.]*\s*(?:-\s*)?(?:miles?|mi|feet|foot|ft|inch(?:es)?|in\.|yards?|yd|pounds?|lbs?|ounces?|oz|"
    r"gallons?|gal|pints?|quarts?|acres?|°\s?F|degrees\s+Fahrenheit|Fahrenheit|mph)\b",
    re.IGNORECASE,
)
_METRIC_RE = re.compile(
    r"\b\d[\d,.]*\s*(?:-\s*)?(?:km|kilomet(?:er|re)s?|m|met(?:er|re)s?|cm|centimet(?:er|re)s?|mm|millimet(?:er|re)s?|"
    r"kg|kilograms?|g|grams?|l|litres?|liters?|ml|millilit(?:er|re)s?|hectares?|ha|°\s?C|degrees\s+Celsius|"
    r"Celsius|km/h)\b",
    re.IGNORECASE,
)
_BRITISH_STEMS = (
    "colour",
    "favour",
    "honour",
    "labour",
    "neighbour",
    "behaviour",
    "flavour",
    "humour",
    "rumour",
    "organis",
    "realis",
    "recognis",
    "analys",
    "apologis",
    "prioritis",
    "summaris",
    "centre",
    "metre",
    "litre",
    "theatre",
    "fibre",
    "calibre",
    "programme",
    "catalogue",
    "dialogue",
    "defence",
    "offence",
    "licence",
    "travelled",
    "travelling",
    "cancelled",
    "cancelling",
    "modelled",
    "jewellery",
    "grey",
    "aluminium",
    "tyre",
    "cheque",
    "enrol",
)
_BRITISH_RE = re.compile(
    r"\b(?:" + "|".join(_BRITISH_STEMS) + r")\w*",
    re.IGNORECASE,
)
_BRITISH_FALSE_FRIENDS = frozenset({"analyst", "analysts", "analysis", "greyhound", "dialogues"})

_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)
_ITALIC_RE = re.compile(
    r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])|(?<![_\w])_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"
)
_UNDERLINE_RE = re.compile(r"<u>(.+?)</u>", re.IGNORECASE | re.DOTALL)
_STYLE_RES: dict[str, re.Pattern[str]] = {"bold": _BOLD_RE, "italic": _ITALIC_RE, "underline": _UNDERLINE_RE}
_STYLE_MARKUP: dict[str, str] = {"bold": "**bold**", "italic": "*italic*", "underline": "<u>underline</u>"}

_NAME_STOPWORDS = wordset(
    "the a an in on at of for to by with from and or but this that these those it its our their his her my your "
    "as if when while after before during since because although however therefore moreover also then thus "
    "dear hi hello regards best sincerely yours thanks thank please note subject re fw yesterday today tomorrow "
    "last next every each some many most all several both few one two three first second new according "
    "meanwhile instead here there what who where why how i we you mr mrs ms dr prof sir madam"
)
_NAME_PARTICLES = frozenset({"of", "de", "da", "van", "von", "der", "la", "le", "du", "del", "&"})
_CALENDAR_WORDS = wordset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december jan feb mar apr jun jul aug sep sept oct nov dec"
)
_HONORIFICS = frozenset({"Dr", "Mr", "Mrs", "Ms", "Prof", "Jr", "Sr"})
_ABBREVIATIONS = _HONORIFICS | {"St", "Mt", "Ft", "No", "Inc", "Ltd", "Co"}
_LOWER_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "vs", "approx", "ca", "cf", "incl", "fig", "no"})
_ORG_WORDS = wordset(
    "inc ltd llc plc corp corporation company co group university college school institute hospital bank "
    "street st avenue ave road rd boulevard lane drive square park center centre hall hotel museum church "
    "council committee department ministry agency association foundation society club conference summit "
    "festival expo forum workshop symposium project program programme river lake mount mountain island "
    "county city state republic kingdom united national international north south east west"
)
_FIRST_NAMES = wordset(
    "james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony "
    "mark donald steven paul andrew joshua kevin brian george timothy ronald edward jason jeffrey ryan jacob gary "
    "nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick "
    "raymond jack dennis jerry tyler aaron jose adam nathan henry peter zachary douglas kyle noah ethan jeremy "
    "walter christian keith roger terry austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan "
    "bruce gabriel joe logan alan juan albert elijah wayne vincent mason roy ralph russell philip eugene oliver "
    "harry charlie oscar leo liam lucas ben sam tom tim max felix hans klaus lukas marco luca giovanni pierre "
    "francois carlos miguel luis jorge pedro javier diego pablo ivan dmitri sergei tomas jan piotr erik lars nils "
    "mohammed ahmed ali omar hassan raj rahul anil sunil amit ravi arjun hiroshi kenji akira wei ming "
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty sandra margaret "
    "ashley kimberly emily donna michelle carol amanda melissa deborah stephanie dorothy rebecca sharon laura "
    "cynthia amy kathleen angela shirley brenda emma anna pamela nicole samantha katherine christine helen debra "
    "rachel carolyn janet maria catherine heather diane olivia julie joyce victoria ruth virginia lauren kelly "
    "christina joan evelyn judith andrea hannah megan cheryl jacqueline martha madison teresa gloria sara janice "
    "ann kathryn abigail sophia frances jean alice judy isabella julia grace amber denise danielle marilyn "
    "beverly charlotte natalie theresa diana brittany doris kayla alexis lori marie jane ada ava mia chloe ella "
    "lily zoe nora kate beth nina rosa eva ivy ruby jasmine priya ananya fatima aisha yuki sakura sofia lucia "
    "elena carmen isabel claire sophie lena giulia francesca olga natasha ingrid astrid mei lin chen"
)
_TITLE_SMALL_WORDS = wordset(
    "a an the and but or nor for so yet as at by in of off on per to up via with from into onto over than vs"
)

# Function words by language (lowercase). Used for language identification of translations and code switching.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "english": wordset(
        "the and of to is are was were that this with for on it be have has by from which will would not "
        "they their there been can at or we you he she"
    ),
    "french": wordset(
        "le la les des du une est sont dans pour avec sur qui que ce cette il elle nous vous ils pas au aux "
        "été être ont mais ou son ses leur plus"
    ),
    "spanish": wordset(
        "el la los las del una es son en para con por que este esta se su sus al pero como más fue ser "
        "muy también hay lo"
    ),
    "german": wordset(
        "der die das und ist sind ein eine einen dem den des mit für auf nicht zu im auch sich von werden "
        "wird wurde oder aber bei nach wie"
    ),
    "italian": wordset(
        "il lo la gli le dei delle della del di è sono una uno per con che non nel nella alla anche sua suo "
        "come più questo questa ma"
    ),
    "portuguese": wordset(
        "o os as um uma dos das do da em para com não que é são mais como pelo pela ao seu sua também foi "
        "ser está isso nos"
    ),
    "hindi": wordset(
        "hai hain ka ki ke ko mein se aur nahi nahin bhi yeh ye woh wo tha thi the kya ek hum aap par "
        "liye kar raha rahe"
    ),
}

_JSON_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)


def _result(name: str, passed: bool, detail: str, score: float | None = None) -> CheckResult:
    return CheckResult(name=f"skill.{name}", passed=passed, detail=detail, score=score)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def strip_markup(text: str) -> str:
    """The text without markdown emphasis, underline tags, heading hashes and backticks."""
    return _MARKUP_RE.sub("", text)


def strip_contacts(text: str) -> str:
    """The text with email addresses and URLs blanked out."""
    return _URL_RE.sub(" ", _EMAIL_RE.sub(" ", text))


def words(text: str) -> list[str]:
    """Word tokens (letters/digits, with inner apostrophes and hyphens), markup, emails and URLs removed."""
    return _WORD_RE.findall(strip_markup(strip_contacts(text)))


def word_count(text: str) -> int:
    return len(words(text))


def sentences(text: str) -> list[str]:
    """Sentences of `text`: split after . ! ? (not after abbreviations or initials) and at line breaks, except
    where a hard-wrapped line continues in lower case."""
    text = _WRAPPED_LINE_RE.sub(" ", text)
    out: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        before = text[start : match.start()]
        if "\n" not in match.group(0):
            last = before.split()[-1] if before.split() else ""
            core = last.rstrip(".!?…\"'”’)]").lstrip("([\"'“‘")
            if last.endswith(".") and (
                core in _ABBREVIATIONS or core.lower() in _LOWER_ABBREVIATIONS or len(core) == 1
            ):
                continue
        out.append(text[start : match.start()])
        start = match.end()
    out.append(text[start:])
    return [piece.strip() for piece in out if piece.strip() and any(ch.isalpha() for ch in piece)]


def _short(items: Iterable[str], limit: int = 5) -> str:
    listed = [f"'{item}'" for item in items]
    extra = len(listed) - limit
    return ", ".join(listed[:limit]) + (f" (+{extra} more)" if extra > 0 else "")


# ----
# Entity extraction
# ----
def extract_emails(text: str) -> list[str]:
    return list(dict.fromkeys(_EMAIL_RE.findall(text)))


def extract_urls(text: str) -> list[str]:
    return list(dict.fromkeys(url.rstrip(".,;:!?") for url in _URL_RE.findall(text)))


def extract_phones(text: str) -> list[str]:
    """Phone-like numbers with at least 7 digits that are neither dates nor plain years."""
    out = []
    for match in _PHONE_RE.finditer(text):
        candidate = match.group(0).strip()
        digits = re.sub(r"\D", "", candidate)
        if len(digits) < 7 or len(digits) > 15:
            continue
        if _ISO_DATE_RE.fullmatch(candidate) or any(r.fullmatch(candidate) for r in _NON_ISO_DATE_RES):
            continue
        out.append(candidate)
    return list(dict.fromkeys(out))


def extract_accounts(text: str) -> list[str]:
    """IBAN-like codes, card-like digit groups and long digit runs."""
    return list(dict.fromkeys(m.group(0) for m in _ACCOUNT_RE.finditer(text)))


def extract_dates(text: str) -> list[str]:
    """Date expressions: ISO dates, month-name dates, numeric dates with slashes or dots."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_ISO_DATE_RE, *_NON_ISO_DATE_RES):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append((start, match.group(0)))
    return list(dict.fromkeys(value for _start, value in sorted(found)))


def non_iso_dates(text: str) -> list[str]:
    """Date expressions that are not ISO-8601 (YYYY-MM-DD or YYYY-MM)."""
    found: list[str] = []
    for pattern in _NON_ISO_DATE_RES:
        found.extend(m.group(0) for m in pattern.finditer(text))
    return list(dict.fromkeys(found))


def extract_numbers(text: str) -> list[str]:
    return list(dict.fromkeys(_NUMBER_RE.findall(text)))


def extract_times(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in _TIME_12H_RE.finditer(text)))


def extract_imperial(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in _IMPERIAL_RE.finditer(text)))


def extract_british(text: str) -> list[str]:
    return list(
        dict.fromkeys(
            m.group(0) for m in _BRITISH_RE.finditer(text) if m.group(0).lower() not in _BRITISH_FALSE_FRIENDS
        )
    )


def extract_names(text: str) -> list[str]:
    """Capitalized multiword names ("Ada Lovelace", "Bank of England"), leading function words removed."""
    names: list[str] = []
    run: list[str] = []

    def flush() -> None:
        while run and run[-1].lower() in _NAME_PARTICLES:
            run.pop()
        while run and (run[0].lower().rstrip(".") in _NAME_STOPWORDS or run[0].lower() in _NAME_PARTICLES):
            run.pop(0)
        capitals = [t for t in run if t[:1].isupper()]
        if len(capitals) >= 2 and len(run) <= 6:
            names.append(" ".join(run))
        run.clear()

    previous_end = 0
    for match in re.finditer(r"\S+", text):
        raw = match.group(0)
        if "\n" in text[previous_end : match.start()] or raw[:1] in "([{\"'“‘<*_#":
            flush()
        previous_end = match.end()
        core = raw.strip("()[]{}\"'“”‘’.,;:!?*_<>#")
        if core.lower().endswith(("’s", "'s")):
            core = core[:-2]
        if not core or not core[0].isalpha() or core.lower() in _CALENDAR_WORDS or any(ch.isdigit() for ch in core):
            flush()
            continue
        shown = (
            core + "."
            if raw.rstrip("\"'”’)]}*_,;:!?").endswith(".") and (core in _HONORIFICS or len(core) == 1)
            else core
        )
        if core in _HONORIFICS:
            flush()
        if core[0].isupper() or (run and core.lower() in _NAME_PARTICLES):
            run.append(shown)
        else:
            flush()
            continue
        ends = raw.rstrip("\"'”’)]}*_")
        if ends[-1:] in ".,;:!?" and not (ends.endswith(".") and (core in _HONORIFICS or len(core) == 1)):
            flush()
    flush()
    return list(dict.fromkeys(names))


def extract_person_names(text: str) -> list[str]:
    """Names of people: a capitalized name of 2-3 words that starts with a common first name, follows an
    honorific (Mr., Ms., Dr.), or whose last part is the local part of an email address in the text."""
    mailboxes = " ".join(e.split("@", 1)[0].lower() for e in extract_emails(text))
    out = []
    for name in extract_names(text):
        parts = name.split()
        start = next((i for i, p in enumerate(parts) if p.lower() in _FIRST_NAMES), None)
        if start is not None:
            parts = parts[start:]
        elif not (
            re.search(rf"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+{re.escape(name)}", text)
            or (len(parts) >= 2 and len(parts[-1]) > 2 and parts[-1].lower() in mailboxes)
        ):
            continue
        if not 2 <= len(parts) <= 3:
            continue
        if any(p.lower().strip(".") in _ORG_WORDS or p.lower() in _NAME_PARTICLES for p in parts):
            continue
        if any(p.isupper() and len(p) > 2 for p in parts):
            continue
        out.append(" ".join(parts))
    return list(dict.fromkeys(out))


def standalone_numbers(text: str) -> list[str]:
    """Numbers that are not part of a date, time, email, URL, phone or account number."""
    taken: list[tuple[int, int]] = []
    for pattern in (_TIME_12H_RE, _TIME_24H_RE, _ISO_DATE_RE, *_NON_ISO_DATE_RES, _EMAIL_RE, _URL_RE, _ACCOUNT_RE):
        taken.extend(m.span() for m in pattern.finditer(text))
    taken.extend(m.span() for m in _PHONE_RE.finditer(text) if m.group(0).strip() in extract_phones(text))
    found = [
        m.group(0)
        for m in _NUMBER_RE.finditer(text)
        if not any(start < m.end() and m.start() < end for start, end in taken)
    ]
    return list(dict.fromkeys(found))


ENTITY_EXTRACTORS: dict[str, Callable[[str], list[str]]] = {
    "names": extract_names,
    "numbers": standalone_numbers,
    "dates": extract_dates,
    "emails": extract_emails,
    "urls": extract_urls,
}


def extract_entities(text: str, kinds: Sequence[str] = ("names", "dates", "numbers", "emails", "urls")) -> list[str]:
    """Named entities, dates, numbers, emails and URLs of `text` (numbers inside dates, emails and URLs skipped)."""
    found: list[str] = []
    for kind in kinds:
        for entity in ENTITY_EXTRACTORS[kind](text):
            if kind == "numbers" and any(entity in other for other in found):
                continue
            found.append(entity)
    return list(dict.fromkeys(found))


def _normalized(text: str) -> str:
    return _collapse(strip_markup(text)).lower()


def _contains_entity(haystack_norm: str, entity: str) -> bool:
    needle = _collapse(entity).lower()
    if not needle:
        return True
    if needle[0].isalnum() and needle[-1].isalnum():
        return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", haystack_norm) is not None
    return needle in haystack_norm


# ----
# Checks
# ----
def check_not_empty(output: str) -> CheckResult:
    ok = bool(output.strip()) and any(ch.isalnum() for ch in output)
    return _result("not_empty", ok, "" if ok else "the modified text is empty")


def check_differs(output: str, source: str) -> CheckResult:
    ok = _collapse(output) != _collapse(source)
    return _result("differs", ok, "" if ok else "the output is the input text unchanged")


def check_case(output: str, target: str, source: str = "") -> CheckResult:
    """`target`: upper, lower, title or sentence. URLs, emails and placeholders like [EMAIL] are ignored."""
    text = _PLACEHOLDER_RE.sub(" ", strip_markup(strip_contacts(output)))
    if target == "upper":
        bad = [w for w in _WORD_RE.findall(text) if any(ch.islower() for ch in w)]
        ok = not bad
        return _result("case", ok, "" if ok else f"{len(bad)} word(s) not in upper case: {_short(bad)}")
    if target == "lower":
        bad = [w for w in _WORD_RE.findall(text) if any(ch.isupper() for ch in w)]
        ok = not bad
        return _result("case", ok, "" if ok else f"{len(bad)} word(s) not in lower case: {_short(bad)}")
    if target == "title":
        bad = []
        total = 0
        for sentence in sentences(text):
            for index, word in enumerate(_WORD_RE.findall(sentence)):
                if not word[0].isalpha():
                    continue
                total += 1
                if index > 0 and word.lower() in _TITLE_SMALL_WORDS:
                    continue
                if not word[0].isupper():
                    bad.append(word)
        ok = total > 0 and len(bad) <= total // 50
        return _result("case", ok, "" if ok else f"{len(bad)} word(s) not capitalized: {_short(bad)}")
    if target == "sentence":
        proper = {
            w.lower()
            for s in sentences(strip_markup(source))
            for w in _WORD_RE.findall(s)[1:]
            if w[:1].isupper() or w.isupper()
        }
        proper.add("i")
        lower_starts: list[str] = []
        extra_caps: list[str] = []
        for sentence in sentences(text):
            tokens = [w for w in _WORD_RE.findall(sentence) if w[0].isalpha()]
            if not tokens:
                continue
            if not tokens[0][0].isupper():
                lower_starts.append(tokens[0])
            extra_caps.extend(w for w in tokens[1:] if w[0].isupper() and w.lower() not in proper)
        ok = not lower_starts and len(extra_caps) <= 1
        detail = ""
        if lower_starts:
            detail = f"sentence(s) start in lower case: {_short(lower_starts)}"
        elif not ok:
            detail = f"capitalized words that are not names: {_short(extra_caps)}"
        return _result("case", ok, detail)
    return _result("case", False, f"unknown target case {target!r}")


def _first_word(sentence: str) -> str:
    found = _WORD_RE.findall(strip_markup(sentence))
    return found[0] if found else ""


def _starts(word: str, prefix: str) -> bool:
    low = word.lower()
    if prefix == "vowel":
        return low[:1] in set("aeiouáéíóúàèìòùâêîôû")
    if prefix == "consonant":
        return low[:1].isalpha() and low[:1] not in set("aeiou")
    return low.startswith(prefix.lower())


def check_starts_with(output: str, unit: str, prefix: str, every: int = 1) -> CheckResult:
    """Every sentence (unit="sentence"), or every `every`-th word (unit="word"), starts with `prefix`.

    A one-letter prefix (or "vowel"/"consonant") constrains the first letter; a longer prefix must be the
    whole first word of each sentence.
    """
    if unit == "sentence":
        firsts = [_first_word(s) for s in sentences(output)]
        firsts = [w for w in firsts if w]
        if len(prefix) > 1 and prefix not in ("vowel", "consonant"):
            bad = [w for w in firsts if w.lower() != prefix.lower()]
        else:
            bad = [w for w in firsts if not _starts(w, prefix)]
        ok = bool(firsts) and not bad
        detail = "" if ok else f"{len(bad)} of {len(firsts)} sentence(s) do not start with {prefix!r}: {_short(bad)}"
        return _result("starts_with", ok, detail)
    tokens = [w for w in words(output) if w[0].isalpha()]
    every = max(1, every)
    targets = tokens[every - 1 :: every]
    bad = [w for w in targets if not _starts(w, prefix)]
    ok = bool(targets) and not bad
    which = "word" if every == 1 else f"{every}-th word"
    detail = "" if ok else f"{len(bad)} of {len(targets)} {which}(s) do not start with {prefix!r}: {_short(bad)}"
    return _result("starts_with", ok, detail)


def check_word_count(
    output: str,
    *,
    min_words: int | None = None,
    max_words: int | None = None,
    source: str = "",
    min_ratio: float | None = None,
    max_ratio: float | None = None,
) -> CheckResult:
    """Absolute bounds and/or bounds relative to the source's word count."""
    count = word_count(output)
    low: float = 0
    high: float = float("inf")
    if min_words is not None:
        low = max(low, min_words)
    if max_words is not None:
        high = min(high, max_words)
    base = word_count(source) if source else 0
    if min_ratio is not None and base:
        low = max(low, min_ratio * base)
    if max_ratio is not None and base:
        high = min(high, max_ratio * base)
    ok = low <= count <= high
    bounds = f"[{int(low) if low == int(low) else round(low, 1)}, {'∞' if high == float('inf') else int(high)}]"
    detail = f"{count} words" + ("" if ok else f", outside {bounds}") + (f" (source: {base} words)" if base else "")
    return _result("word_count", ok, detail, score=float(count))


def check_entities_kept(output: str, entities: Sequence[str], *, min_fraction: float = 1.0) -> CheckResult:
    """The given entities (names, numbers, dates, emails, URLs) appear in the output (case-insensitive)."""
    if not entities:
        return _result("entities_kept", True, "no entities to keep")
    haystack = _normalized(output)
    missing = [e for e in entities if not _contains_entity(haystack, e)]
    kept = 1 - len(missing) / len(entities)
    ok = kept >= min_fraction - 1e-9
    detail = f"{len(entities) - len(missing)}/{len(entities)} kept"
    if missing:
        detail += f"; missing: {_short(missing)}"
    return _result("entities_kept", ok, detail, score=kept)


def parse_json_output(output: str) -> Any:
    """The JSON value of `output` (a ```json fence around it is tolerated); raises ValueError."""
    text = output.strip()
    fenced = _JSON_FENCE_RE.match(text)
    if fenced:
        text = fenced.group(1)
    return json.loads(text)


def check_json(output: str, required_fields: Sequence[str] = ()) -> CheckResult:
    try:
        value = parse_json_output(output)
    except ValueError as exc:
        return _result("json", False, f"not valid JSON: {exc}")
    if required_fields:
        if not isinstance(value, dict):
            return _result("json", False, f"expected a JSON object, got {type(value).__name__}")
        missing = [f for f in required_fields if f not in value]
        empty = [f for f in required_fields if f in value and value[f] in ("", None, [], {})]
        if missing or empty:
            parts = []
            if missing:
                parts.append(f"missing field(s) {_short(missing)}")
            if empty:
                parts.append(f"empty field(s) {_short(empty)}")
            return _result("json", False, "; ".join(parts))
    return _result("json", True, "")


def json_text(value: Any) -> str:
    """All string values of a JSON value, in order, one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(json_text(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(json_text(v) for v in value)
    return "" if value is None or isinstance(value, bool) else str(value)


REDACTION_CLASSES: dict[str, Callable[[str], list[str]]] = {
    "emails": extract_emails,
    "phones": extract_phones,
    "accounts": extract_accounts,
    "dates": extract_dates,
    "urls": extract_urls,
    "numbers": standalone_numbers,
    "names": extract_person_names,
}


def _leaks(output: str, item: str, kind: str) -> bool:
    if kind in ("phones", "accounts"):
        digits = re.sub(r"\D", "", item)
        if kind == "phones":
            digits = digits[-7:]
        for match in _DIGITS_RE.finditer(re.sub(r"(?<=\d)[\s().-]+(?=\d)", "", output)):
            if digits and digits in match.group(0):
                return True
        return False
    if kind == "numbers":
        return re.search(rf"(?<![\w.,]){re.escape(item)}(?![\w]|[.,]\d)", output) is not None
    return _contains_entity(_normalized(output), item)


def check_redaction(output: str, source: str, classes: Sequence[str], names: Sequence[str] = ()) -> CheckResult:
    """No item of the requested classes from the source remains, and no new one of those classes appears.

    `names` are the person names given in the instruction; a name leaks if its full form or its last part
    remains.
    """
    leaked: list[str] = []
    for kind in classes:
        if kind == "names":
            continue
        extractor = REDACTION_CLASSES[kind]
        leaked.extend(item for item in extractor(source) if _leaks(output, item, kind))
        if kind in ("emails", "urls", "phones", "accounts"):
            leaked.extend(item for item in extractor(output) if item not in leaked)
    if "names" in classes:
        haystack = _normalized(strip_contacts(output))
        for name in names:
            parts = name.split()
            forms = [name] + ([parts[-1]] if len(parts) > 1 and len(parts[-1]) > 2 else [])
            if any(_contains_entity(haystack, form) for form in forms):
                leaked.append(name)
    leaked = list(dict.fromkeys(leaked))
    ok = not leaked
    detail = "" if ok else f"{len(leaked)} item(s) still present: {_short(leaked)}"
    return _result("redaction", ok, detail)


def styled_spans(output: str, style: str) -> list[str]:
    pattern = _STYLE_RES[style]
    return [next(g for g in m.groups() if g is not None) for m in pattern.finditer(output)]


def check_styling(output: str, style: str, *, min_spans: int = 1, required: Sequence[str] = ()) -> CheckResult:
    """At least `min_spans` spans in `style` (markdown bold/italic, `<u>` underline); `required` items styled."""
    if style not in _STYLE_RES:
        return _result("styling", False, f"unknown style {style!r}")
    spans = styled_spans(output, style)
    joined = "\n".join(_collapse(s).lower() for s in spans)
    unstyled = [item for item in required if _collapse(item).lower() not in joined]
    ok = len(spans) >= min_spans and not unstyled
    if ok:
        detail = f"{len(spans)} {style} span(s)"
    elif len(spans) < min_spans:
        detail = f"{len(spans)} {style} span(s) ({_STYLE_MARKUP[style]}), expected at least {min_spans}"
    else:
        detail = f"not in {style}: {_short(unstyled)}"
    return _result("styling", ok, detail, score=float(len(spans)))


def check_keyword_replacement(output: str, words_: Sequence[str], replacements: Sequence[str] = ()) -> CheckResult:
    """The replaced words are gone (whole words, case-insensitive, with simple inflections); replacements present."""
    plain = strip_markup(strip_contacts(output))
    remaining = [
        w for w in words_ if re.search(rf"\b{re.escape(w)}(?:s|es|ed|d|ing)?\b", plain, re.IGNORECASE) is not None
    ]
    absent = [r for r in replacements if r.strip() and not _contains_entity(_normalized(output), r)]
    ok = not remaining and not absent
    parts = []
    if remaining:
        parts.append(f"still present: {_short(remaining)}")
    if absent:
        parts.append(f"replacement(s) missing: {_short(absent)}")
    return _result("keywords", ok, "; ".join(parts))


def check_dates_normalized(output: str, source: str) -> CheckResult:
    """Every date in the output is ISO-8601 and there are at least as many ISO dates as source dates."""
    leftovers = non_iso_dates(output)
    expected = len(extract_dates(source))
    iso = _ISO_DATE_RE.findall(output)
    ok = not leftovers and len(iso) >= expected
    if leftovers:
        detail = f"date(s) not in ISO-8601 (YYYY-MM-DD): {_short(leftovers)}"
    elif not ok:
        detail = f"{len(iso)} ISO date(s) in the output for {expected} date(s) in the source"
    else:
        detail = f"{len(iso)} ISO date(s)"
    return _result("dates", ok, detail)


def check_times_normalized(output: str, source: str) -> CheckResult:
    """No 12-hour (am/pm) times remain and every source time has a 24-hour HH:MM counterpart."""
    leftovers = extract_times(output)
    expected = len(extract_times(source))
    found = _TIME_24H_RE.findall(output)
    ok = not leftovers and len(found) >= expected
    detail = (
        f"12-hour time(s) remain: {_short(leftovers)}"
        if leftovers
        else ("" if ok else f"{len(found)} HH:MM time(s) for {expected} source time(s)")
    )
    return _result("times", ok, detail)


def check_units_metric(output: str) -> CheckResult:
    leftovers = extract_imperial(output)
    metric = _METRIC_RE.findall(output)
    ok = not leftovers and bool(metric)
    detail = (
        f"imperial unit(s) remain: {_short(leftovers)}" if leftovers else ("" if ok else "no metric quantity found")
    )
    return _result("units", ok, detail)


def check_spelling_us(output: str) -> CheckResult:
    leftovers = extract_british(output)
    ok = not leftovers
    return _result("spelling", ok, "" if ok else f"British spelling(s) remain: {_short(leftovers)}")


def language_shares(text: str) -> dict[str, float]:
    """Share of tokens that are function words of each known language."""
    tokens = [w.lower() for w in words(text)]
    if not tokens:
        return dict.fromkeys(_FUNCTION_WORDS, 0.0)
    return {lang: sum(t in vocab for t in tokens) / len(tokens) for lang, vocab in _FUNCTION_WORDS.items()}


def _language_key(language: str) -> str:
    key = language.strip().lower().split()[0] if language.strip() else ""
    return key


def check_language(output: str, language: str) -> CheckResult:
    """The output reads as `language`: its function words are frequent and outnumber English ones."""
    key = _language_key(language)
    if key not in _FUNCTION_WORDS:
        return _result("language", True, f"no detector for {language!r}")
    shares = language_shares(output)
    target = shares[key]
    english = shares["english"]
    ok = target >= 0.08 and (key == "english" or target > english)
    detail = f"{key} function words {target:.0%}, english {english:.0%}"
    return _result("language", ok, detail, score=target)


def check_language_mix(output: str, languages: Sequence[str], *, min_hits: int = 3) -> CheckResult:
    """Code switching: function words of every language appear (words shared by two languages not counted)."""
    keys = [_language_key(lang) for lang in languages]
    unknown = [k for k in keys if k not in _FUNCTION_WORDS]
    if unknown:
        return _result("code_switching", True, f"no detector for {', '.join(unknown)}")
    tokens = Counter(w.lower() for w in words(output))
    hits = {}
    for key in keys:
        others = frozenset().union(*(_FUNCTION_WORDS[k] for k in keys if k != key))
        vocab = _FUNCTION_WORDS[key] - others
        hits[key] = sum(count for token, count in tokens.items() if token in vocab)
    ok = all(count >= min_hits for count in hits.values())
    detail = ", ".join(f"{k}: {v} function word(s)" for k, v in hits.items())
    return _result("code_switching", ok, detail)


_STRUCTURES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "bullets": (re.compile(r"^\s*[-*•]\s+\S", re.MULTILINE), 2, "bulleted lines"),
    "numbered": (re.compile(r"^\s*\d+[.)]\s+\S", re.MULTILINE), 2, "numbered lines"),
    "table": (re.compile(r"^\s*\|?[^|\n]*\|[^|\n]*\|?.*$", re.MULTILINE), 3, "table rows"),
    "headings": (re.compile(r"^#{1,6}\s+\S", re.MULTILINE), 1, "markdown headings"),
}
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE)


def check_structure(output: str, kind: str) -> CheckResult:
    """Markdown layout: bullets, numbered list, table (with a rule line) or headings."""
    if kind not in _STRUCTURES:
        return _result("structure", False, f"unknown structure {kind!r}")
    pattern, minimum, label = _STRUCTURES[kind]
    count = len(pattern.findall(output))
    ok = count >= minimum and (kind != "table" or _TABLE_RULE_RE.search(output) is not None)
    detail = f"{count} {label}" + ("" if ok else f", expected at least {minimum}")
    if kind == "table" and count >= minimum and not ok:
        detail = "table without a header rule line (|---|---|)"
    return _result("structure", ok, detail)


def check_pattern(output: str, pattern: str, min_count: int, label: str) -> CheckResult:
    """At least `min_count` matches of a regular expression (hashtags, annotation markers...)."""
    count = len(re.findall(pattern, output, re.MULTILINE))
    ok = count >= min_count
    detail = f"{count} {label}" + ("" if ok else f", expected at least {min_count}")
    return _result("markers", ok, detail, score=float(count))


def check_source_kept(output: str, source: str, min_recall: float) -> CheckResult:
    """Share of the source's words (as a multiset) still in the output; for edits that add, not rewrite."""
    src = Counter(w.lower() for w in words(source))
    out = Counter(w.lower() for w in words(output))
    total = sum(src.values())
    if not total:
        return _result("source_kept", True, "empty source")
    recall = sum(min(count, out[w]) for w, count in src.items()) / total
    ok = recall >= min_recall
    detail = f"{recall:.0%} of the source words kept" + ("" if ok else f", expected at least {min_recall:.0%}")
    return _result("source_kept", ok, detail, score=recall)


def check_ngram_overlap(output: str, source: str, *, n: int = 5, max_fraction: float = 0.3) -> CheckResult:
    """Share of the output's word n-grams copied from the source stays below `max_fraction`."""
    out_words = [w.lower() for w in words(output)]
    src_words = [w.lower() for w in words(source)]
    grams = [tuple(out_words[i : i + n]) for i in range(len(out_words) - n + 1)]
    if not grams:
        return _result("copied", True, "output shorter than one n-gram")
    src_grams = {tuple(src_words[i : i + n]) for i in range(len(src_words) - n + 1)}
    copied = sum(g in src_grams for g in grams) / len(grams)
    ok = copied <= max_fraction
    detail = f"{copied:.0%} of {n}-word sequences copied" + ("" if ok else f", at most {max_fraction:.0%} allowed")
    return _result("copied", ok, detail, score=copied)


def check_letter_absent(output: str, letter: str) -> CheckResult:
    bad = [w for w in words(output) if letter.lower() in w.lower()]
    ok = not bad
    return _result("lipogram", ok, "" if ok else f"{len(bad)} word(s) contain {letter!r}: {_short(bad)}")


def check_max_word_length(output: str, max_letters: int) -> CheckResult:
    bad = [w for w in words(output) if sum(ch.isalpha() for ch in w) > max_letters]
    ok = not bad
    detail = "" if ok else f"{len(bad)} word(s) longer than {max_letters} letters: {_short(bad)}"
    return _result("word_length", ok, detail)


def check_line_count(output: str, min_lines: int) -> CheckResult:
    lines = [line for line in output.splitlines() if line.strip()]
    ok = len(lines) >= min_lines
    detail = f"{len(lines)} line(s)" + ("" if ok else f", expected at least {min_lines}")
    return _result("lines", ok, detail)


def locate_span(source: str, span: str) -> tuple[str, str] | None:
    """(text before, text after) the span in the source, comparing with collapsed whitespace; None if absent."""
    flat_source = _collapse(source)
    flat_span = _collapse(span)
    if not flat_span:
        return None
    index = flat_source.find(flat_span)
    if index < 0:
        return None
    return flat_source[:index].strip(), flat_source[index + len(flat_span) :].strip()


def split_span_output(output: str, source: str, span: str) -> str | None:
    """The modified span: the output minus the unchanged text around it; None if that text was changed."""
    located = locate_span(source, span)
    if located is None:
        return None
    before, after = located
    flat = _collapse(output)
    if not flat.startswith(before):
        return None
    rest = flat[len(before) :]
    if after:
        if not rest.endswith(after):
            return None
        rest = rest[: len(rest) - len(after)]
    return rest.strip()


def check_span_only(output: str, source: str, span: str) -> CheckResult:
    """Only `span` was modified: the text before and after it is unchanged."""
    if locate_span(source, span) is None:
        return _result("span_only", False, "the span is not part of the source text")
    middle = split_span_output(output, source, span)
    ok = middle is not None and bool(middle)
    detail = "" if ok else "the text outside the span was changed (or the span was dropped)"
    return _result("span_only", ok, detail)


# ----
# Constraint specs: dicts stored with the task, evaluated from the candidate alone
# ----
def _as_str(args: Mapping[str, Any], key: str, default: str = "") -> str:
    value = args.get(key, default)
    return value if isinstance(value, str) else str(value)


def _as_strs(args: Mapping[str, Any], key: str) -> list[str]:
    value = args.get(key) or []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _as_int(args: Mapping[str, Any], key: str) -> int | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_float(args: Mapping[str, Any], key: str) -> float | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _required_items(source: str, kind: str) -> list[str]:
    if kind == "numbers":
        return standalone_numbers(source)[:10]
    if kind == "names":
        return extract_names(source)[:8]
    return []


Runner = Callable[[str, str, Mapping[str, Any]], CheckResult]

_RUNNERS: dict[str, Runner] = {
    "not_empty": lambda out, src, a: check_not_empty(out),
    "differs": lambda out, src, a: check_differs(out, src),
    "case": lambda out, src, a: check_case(out, _as_str(a, "target"), src),
    "starts_with": lambda out, src, a: check_starts_with(
        out, _as_str(a, "unit", "sentence"), _as_str(a, "prefix"), _as_int(a, "every") or 1
    ),
    "word_count": lambda out, src, a: check_word_count(
        out,
        min_words=_as_int(a, "min_words"),
        max_words=_as_int(a, "max_words"),
        source=src,
        min_ratio=_as_float(a, "min_ratio"),
        max_ratio=_as_float(a, "max_ratio"),
    ),
    "entities_kept": lambda out, src, a: check_entities_kept(
        out,
        _as_strs(a, "entities") or extract_entities(src, _as_strs(a, "kinds") or ("numbers",))[:12],
        min_fraction=_as_float(a, "min_fraction") or 1.0,
    ),
    "json": lambda out, src, a: check_json(out, _as_strs(a, "fields")),
    "redaction": lambda out, src, a: check_redaction(out, src, _as_strs(a, "classes"), _as_strs(a, "names")),
    "styling": lambda out, src, a: check_styling(
        out,
        _as_str(a, "style"),
        min_spans=_as_int(a, "min_spans") or 1,
        required=_as_strs(a, "required") or _required_items(src, _as_str(a, "required_from")),
    ),
    "keywords": lambda out, src, a: check_keyword_replacement(out, _as_strs(a, "words"), _as_strs(a, "replacements")),
    "dates_iso": lambda out, src, a: check_dates_normalized(out, src),
    "times_24h": lambda out, src, a: check_times_normalized(out, src),
    "units_metric": lambda out, src, a: check_units_metric(out),
    "spelling_us": lambda out, src, a: check_spelling_us(out),
    "language": lambda out, src, a: check_language(out, _as_str(a, "language")),
    "language_mix": lambda out, src, a: check_language_mix(out, _as_strs(a, "languages")),
    "structure": lambda out, src, a: check_structure(out, _as_str(a, "kind")),
    "pattern": lambda out, src, a: check_pattern(
        out, _as_str(a, "pattern"), _as_int(a, "min_count") or 1, _as_str(a, "label", "markers")
    ),
    "source_kept": lambda out, src, a: check_source_kept(out, src, _as_float(a, "min_recall") or 0.8),
    "ngram_overlap": lambda out, src, a: check_ngram_overlap(
        out, src, n=_as_int(a, "n") or 5, max_fraction=_as_float(a, "max_fraction") or 0.3
    ),
    "letter_absent": lambda out, src, a: check_letter_absent(out, _as_str(a, "letter")),
    "max_word_length": lambda out, src, a: check_max_word_length(out, _as_int(a, "max_letters") or 6),
    "line_count": lambda out, src, a: check_line_count(out, _as_int(a, "min_lines") or 2),
}

CONSTRAINT_KINDS: frozenset[str] = frozenset({*_RUNNERS, "span"})


def run_constraint(constraint: Mapping[str, Any], output: str, source: str) -> CheckResult:
    kind = _as_str(constraint, "check")
    runner = _RUNNERS.get(kind)
    if runner is None:
        return _result("unknown_constraint", False, f"no check named {kind!r}")
    return runner(output, source, constraint)


def evaluate(constraints: Sequence[Mapping[str, Any]], output: str, source: str) -> list[CheckResult]:
    """Run every constraint on `output`; the output is always checked for being non-empty first.

    Scopes: when a `json` constraint is present and the output parses, the other content constraints run on
    the JSON's string values; when a `span` constraint is present, the output must keep the text around the
    span unchanged and the constraints marked `"scope": "task"` run on the modified span against the original
    span.
    """
    results = [check_not_empty(output)]
    if not results[0].passed:
        return results
    text = output
    json_spec = next((c for c in constraints if c.get("check") == "json"), None)
    if json_spec is not None:
        json_result = run_constraint(json_spec, output, source)
        results.append(json_result)
        if json_result.passed:
            text = json_text(parse_json_output(output))
    span_spec = next((c for c in constraints if c.get("check") == "span"), None)
    task_text, task_source = text, source
    if span_spec is not None:
        span = _as_str(span_spec, "span")
        span_result = check_span_only(text, source, span)
        results.append(span_result)
        middle = split_span_output(text, source, span) if span_result.passed else None
        if middle is not None:
            task_text, task_source = middle, span
    for constraint in constraints:
        if constraint.get("check") in ("json", "span", "not_empty"):
            continue
        if constraint.get("scope") == "task":
            results.append(run_constraint(constraint, task_text, task_source))
        else:
            results.append(run_constraint(constraint, text, source))
    return results


def _fmt_ratio(value: float) -> str:
    return f"{value:g}"


def describe(constraint: Mapping[str, Any]) -> str:
    """The constraint in plain words, for the teacher's prompt and its self-critique."""
    kind = _as_str(constraint, "check")
    a = constraint
    if kind == "not_empty":
        return "The answer is the modified text, not empty."
    if kind == "differs":
        return "The answer must actually change the text; returning it unchanged is wrong."
    if kind == "case":
        target = _as_str(a, "target")
        return {
            "upper": "Every letter is upper case.",
            "lower": "Every letter is lower case.",
            "title": "Title case: every word capitalized except short function words (a, the, of...).",
            "sentence": "Sentence case: each sentence starts with a capital; other words lower case unless names.",
        }.get(target, f"Case: {target}.")
    if kind == "starts_with":
        prefix = _as_str(a, "prefix")
        what = "a vowel" if prefix == "vowel" else f"'{prefix}'"
        if _as_str(a, "unit", "sentence") == "sentence":
            if len(prefix) > 1 and prefix not in ("vowel", "consonant"):
                return f"Every sentence starts with the word '{prefix}'."
            return f"Every sentence starts with {what}."
        every = _as_int(a, "every") or 1
        return f"Every word starts with {what}." if every == 1 else f"Every {every}-th word starts with {what}."
    if kind == "word_count":
        parts = []
        if _as_int(a, "min_words") is not None:
            parts.append(f"at least {_as_int(a, 'min_words')} words")
        if _as_int(a, "max_words") is not None:
            parts.append(f"at most {_as_int(a, 'max_words')} words")
        min_ratio = _as_float(a, "min_ratio")
        max_ratio = _as_float(a, "max_ratio")
        if min_ratio is not None:
            parts.append(f"at least {_fmt_ratio(min_ratio)} times as many words as the original")
        if max_ratio is not None:
            parts.append(
                "no longer than the original" if max_ratio == 1 else f"at most {_fmt_ratio(max_ratio)} times as long"
            )
        return "Length: " + ", ".join(parts) + "."
    if kind == "entities_kept":
        entities = _as_strs(a, "entities")
        if entities:
            return "Keep exactly: " + ", ".join(entities) + "."
        return "Keep every number of the original text."
    if kind == "json":
        fields = _as_strs(a, "fields")
        return "The answer is only a valid JSON object" + (f" with the fields {', '.join(fields)}." if fields else ".")
    if kind == "span":
        return f'Change only this part of the text and copy the rest unchanged: "{_as_str(a, "span")}".'
    if kind == "redaction":
        labels = {
            "emails": "email addresses",
            "phones": "phone numbers",
            "accounts": "account or card numbers",
            "dates": "dates",
            "urls": "URLs",
            "numbers": "exact numbers",
            "names": "the person names " + ", ".join(_as_strs(a, "names")),
        }
        classes = [labels.get(c, c) for c in _as_strs(a, "classes")]
        return "None of these may remain: " + "; ".join(classes) + "."
    if kind == "styling":
        style = _as_str(a, "style")
        required = _as_strs(a, "required")
        markup = _STYLE_MARKUP.get(style, style)
        source_kind = _as_str(a, "required_from")
        if source_kind:
            return f"Every {source_kind[:-1]} of the text is in {style} ({markup})."
        text = f"Mark at least {_as_int(a, 'min_spans') or 1} span(s) in {style} as {markup}"
        return text + (f", including {', '.join(required)}." if required else ".")
    if kind == "keywords":
        text = "These words no longer appear: " + ", ".join(_as_strs(a, "words"))
        replacements = _as_strs(a, "replacements")
        return text + (f"; use instead: {', '.join(replacements)}." if replacements else ".")
    if kind == "dates_iso":
        return "Every date is written in ISO-8601 (YYYY-MM-DD); no date in another format remains."
    if kind == "times_24h":
        return "Every time is in 24-hour HH:MM form; no am/pm remains."
    if kind == "units_metric":
        return "Every measurement is in metric units; no miles, feet, pounds, gallons or °F remain."
    if kind == "spelling_us":
        return "American spelling throughout (color, organize, center...)."
    if kind == "language":
        return f"The whole answer is written in {_as_str(a, 'language')}."
    if kind == "language_mix":
        return "The answer mixes " + " and ".join(_as_strs(a, "languages")) + " within and across sentences."
    if kind == "structure":
        labels = {
            "bullets": "a bulleted list (lines starting with '- ')",
            "numbered": "a numbered list (1., 2., ...)",
            "table": "a markdown table with a header rule line",
            "headings": "markdown headings (#) over its sections",
        }
        return "Layout: " + labels.get(_as_str(a, "kind"), _as_str(a, "kind")) + "."
    if kind == "pattern":
        return f"Contains at least {_as_int(a, 'min_count') or 1} {_as_str(a, 'label', 'markers')}."
    if kind == "source_kept":
        return "Keep the original wording; only add to it."
    if kind == "ngram_overlap":
        return f"Do not copy runs of {_as_int(a, 'n') or 5} or more words from the original."
    if kind == "letter_absent":
        return f"No word contains the letter '{_as_str(a, 'letter')}'."
    if kind == "max_word_length":
        return f"No word is longer than {_as_int(a, 'max_letters') or 6} letters."
    if kind == "line_count":
        return f"At least {_as_int(a, 'min_lines') or 2} lines."
    return f"Constraint {kind}."
