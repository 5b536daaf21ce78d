from __future__ import annotations

import json

import pytest

from agentinstruct.checks import text_constraints as tc

SOURCE = (
    "Dear Ms. Jane Doe,\r\n"
    "The Annual Robotics Summit will take place on March 5, 2024 at the Hilton Hotel in Boston. "
    "Yesterday John Smith confirmed 250 seats.\n"
    "Contact john.smith@example.com or call +1 (617) 555-0199 before 03/01/2024. "
    "Visit https://robotics.example.org/summit. Pay to IBAN DE89 3704 0044 0532 0130 00.\n"
    "The event starts at 9:30 am and ends at 5 pm. The venue is 3 miles from the airport. "
    "Our organisation loves colour."
)


# ----
# Extraction
# ----
def test_extractors_find_each_kind_of_entity() -> None:
    assert tc.extract_emails(SOURCE) == ["john.smith@example.com"]
    assert tc.extract_urls(SOURCE) == ["https://robotics.example.org/summit"]
    assert tc.extract_phones(SOURCE) == ["+1 (617) 555-0199"]
    assert tc.extract_accounts(SOURCE) == ["DE89 3704 0044 0532 0130 00"]
    assert tc.extract_dates(SOURCE) == ["March 5, 2024", "03/01/2024"]
    assert tc.extract_times(SOURCE) == ["9:30 am", "5 pm."]
    assert tc.extract_imperial(SOURCE) == ["3 miles"]
    assert tc.extract_british(SOURCE) == ["organisation", "colour"]
    assert tc.standalone_numbers(SOURCE) == ["250", "3"]


def test_name_extraction_drops_function_words_honorifics_and_sentence_openers() -> None:
    names = tc.extract_names(SOURCE)
    assert "Jane Doe" in names
    assert "John Smith" in names
    assert "Annual Robotics Summit" in names
    assert not any(n.startswith(("The ", "Yesterday", "Ms")) for n in names)
    assert tc.extract_person_names(SOURCE) == ["Jane Doe", "John Smith"]


def test_person_names_need_a_first_name_an_honorific_or_a_mailbox() -> None:
    text = "Critical Comprehension matters. Mr. Okonkwo Adebayo wrote to Kwame Mensah (mensah@x.org)."
    assert tc.extract_person_names(text) == ["Okonkwo Adebayo", "Kwame Mensah"]
    assert "Critical Comprehension" in tc.extract_names(text)


def test_two_names_joined_by_and_stay_two_names() -> None:
    assert tc.extract_names("Jane Doe and John Smith met.") == ["Jane Doe", "John Smith"]


def test_sentences_respect_abbreviations_initials_and_wrapped_lines() -> None:
    text = "Dr. Watson met J. R. Tolkien. It rained, e.g. in\r\nthe north.\nNew line here"
    assert tc.sentences(text) == ["Dr. Watson met J. R. Tolkien.", "It rained, e.g. in the north.", "New line here"]


def test_entity_extraction_skips_numbers_inside_dates_and_contacts() -> None:
    entities = tc.extract_entities(SOURCE)
    assert "March 5, 2024" in entities
    assert "250" in entities
    assert "2024" not in entities
    assert "617" not in entities


# ----
# Single checks
# ----
@pytest.mark.parametrize(
    ("target", "good", "bad"),
    [
        ("upper", "HELLO WORLD, SEE HTTPS://Example.org.", "HELLO World."),
        ("lower", "hello world. mail Bob@Example.com", "hello World."),
        ("title", "The Quick Brown Fox Jumps over the Lazy Dog", "The quick brown fox jumps over the lazy dog"),
        ("sentence", "The fox met Jane Doe. It ran away.", "The Fox met jane. it Ran."),
    ],
)
def test_case(target: str, good: str, bad: str) -> None:
    assert tc.check_case(good, target, "The fox met Jane Doe.").passed
    result = tc.check_case(bad, target, "The fox met Jane Doe.")
    assert not result.passed
    assert result.name == "skill.case"
    assert result.detail


def test_case_ignores_redaction_placeholders() -> None:
    assert tc.check_case("write to [EMAIL] or [PHONE NUMBER] today.", "lower").passed
    assert not tc.check_case("write to [Email] today.", "lower").passed


def test_sentence_case_allows_proper_names_of_the_source_only() -> None:
    source = "We visited Lisbon last week."
    assert tc.check_case("We visited Lisbon. It was warm.", "sentence", source).passed
    assert not tc.check_case("We Visited Lisbon. It Was Warm.", "sentence", source).passed


@pytest.mark.parametrize(
    ("unit", "prefix", "every", "good", "bad"),
    [
        ("sentence", "s", 1, "Some say so. Sam sits. Sally sings.", "Some say so. Tom sits."),
        ("sentence", "Notably", 1, "Notably, it rained. Notably we left.", "Notably, it rained. We left."),
        ("sentence", "vowel", 1, "All went well. Every cat ran. Under it.", "All went well. Then it ended."),
        ("word", "s", 1, "Sam sells seven silly snakes.", "Sam sells the snakes."),
        ("word", "b", 3, "I saw big dogs run by. Two blue birds.", "I saw big dogs run fast."),
    ],
)
def test_starts_with(unit: str, prefix: str, every: int, good: str, bad: str) -> None:
    assert tc.check_starts_with(good, unit, prefix, every).passed
    result = tc.check_starts_with(bad, unit, prefix, every)
    assert not result.passed
    assert "do not start with" in result.detail


def test_word_count_absolute_and_relative_bounds() -> None:
    source = " ".join(["word"] * 10)
    assert tc.check_word_count("a b c d e", min_words=3, max_words=5).passed
    assert not tc.check_word_count("a b c d e f", max_words=5).passed
    assert tc.check_word_count(" ".join(["x"] * 13), source=source, min_ratio=1.3).passed
    short = tc.check_word_count(" ".join(["x"] * 12), source=source, min_ratio=1.3)
    assert not short.passed
    assert "12 words" in short.detail
    assert not tc.check_word_count(" ".join(["x"] * 11), source=source, max_ratio=1.0).passed


def test_word_count_ignores_markup_urls_and_emails() -> None:
    assert tc.word_count("**Bold** text at https://a.example/b and a@b.org") == 4


def test_entities_kept_is_case_insensitive_and_reports_missing() -> None:
    assert tc.check_entities_kept("JANE DOE WILL SPEAK ON MARCH 5, 2024.", ["Jane Doe", "March 5, 2024"]).passed
    result = tc.check_entities_kept("Jane will speak.", ["Jane Doe", "250"])
    assert not result.passed
    assert "Jane Doe" in result.detail
    assert tc.check_entities_kept("only 250", ["Jane Doe", "250"], min_fraction=0.5).passed
    assert not tc.check_entities_kept("2500 seats", ["250"]).passed


def test_json_validity_and_required_fields() -> None:
    assert tc.check_json('{"title": "T", "body": "B"}', ["title", "body"]).passed
    assert tc.check_json('```json\n{"title": "T"}\n```', ["title"]).passed
    assert not tc.check_json('{"title": "T"', ["title"]).passed
    missing = tc.check_json('{"title": "T"}', ["title", "body"])
    assert not missing.passed
    assert "body" in missing.detail
    assert not tc.check_json('{"title": ""}', ["title"]).passed
    assert not tc.check_json("[1, 2]", ["title"]).passed
    assert tc.json_text({"a": "x", "b": ["y", {"c": "z"}], "d": 3}) == "x\ny\nz\n3"


def test_redaction_of_emails_phones_accounts_and_names() -> None:
    clean = SOURCE.replace("john.smith@example.com", "[EMAIL]").replace("+1 (617) 555-0199", "[PHONE]")
    assert tc.check_redaction(clean, SOURCE, ["emails", "phones"]).passed
    reformatted = SOURCE.replace("john.smith@example.com", "[EMAIL]").replace("+1 (617) 555-0199", "617.555.0199")
    leak = tc.check_redaction(reformatted, SOURCE, ["emails", "phones"])
    assert not leak.passed
    assert "+1 (617) 555-0199" in leak.detail
    assert not tc.check_redaction("Pay DE89370400440532013000", SOURCE, ["accounts"]).passed
    names = ["Jane Doe", "John Smith"]
    assert tc.check_redaction("Dear [NAME], [NAME] confirmed.", SOURCE, ["names"], names).passed
    assert not tc.check_redaction("Dear [NAME], Mr. Smith confirmed.", SOURCE, ["names"], names).passed
    assert tc.check_redaction("[NAME] (john.smith@example.com)", SOURCE, ["names"], names).passed


def test_redaction_of_numbers_and_dates() -> None:
    assert tc.check_redaction("About two hundred seats, a few miles away.", SOURCE, ["numbers"]).passed
    assert not tc.check_redaction("About 250 seats.", SOURCE, ["numbers"]).passed
    assert not tc.check_redaction("on March 5, 2024", SOURCE, ["dates"]).passed
    assert tc.check_redaction("early that spring", SOURCE, ["dates"]).passed


@pytest.mark.parametrize(
    ("style", "good"),
    [("bold", "A **key** term and **another**"), ("italic", "An *key* term and _another_"), ("underline", "<u>a</u>")],
)
def test_styling_markers(style: str, good: str) -> None:
    assert tc.check_styling(good, style).passed
    assert not tc.check_styling("plain text", style).passed


def test_styling_requires_listed_items_inside_spans() -> None:
    assert tc.check_styling("We sold **250** units in **3** days.", "bold", required=["250", "3"]).passed
    result = tc.check_styling("We sold **250** units in 3 days.", "bold", required=["250", "3"])
    assert not result.passed
    assert "'3'" in result.detail
    assert not tc.check_styling("**one** and **two**", "bold", min_spans=3).passed


def test_keyword_replacement() -> None:
    assert tc.check_keyword_replacement("The location is great.", ["venue"], ["location"]).passed
    assert not tc.check_keyword_replacement("The venues are great.", ["venue"]).passed
    assert tc.check_keyword_replacement("Write to example@example.com", ["example"]).passed
    missing = tc.check_keyword_replacement("The place is great.", ["venue"], ["location"])
    assert not missing.passed
    assert "location" in missing.detail


def test_iso_dates() -> None:
    assert tc.check_dates_normalized("On 2024-03-05 and before 2024-03-01.", SOURCE).passed
    leftover = tc.check_dates_normalized("On March 5, 2024 and 2024-03-01.", SOURCE)
    assert not leftover.passed
    assert "March 5, 2024" in leftover.detail
    assert not tc.check_dates_normalized("On 2024-03-05.", SOURCE).passed, "a date was dropped"
    assert not tc.check_dates_normalized("On 5.3.2024 and 2024-03-01.", SOURCE).passed


def test_times_units_and_spelling() -> None:
    assert tc.check_times_normalized("From 09:30 to 17:00.", SOURCE).passed
    assert not tc.check_times_normalized("From 9:30 am to 17:00.", SOURCE).passed
    assert tc.check_units_metric("It is 4.8 km away.").passed
    assert not tc.check_units_metric("It is 3 miles (4.8 km) away.").passed
    assert not tc.check_units_metric("It is far away.").passed
    assert tc.check_spelling_us("Our organization loves color. The analysis is done.").passed
    assert not tc.check_spelling_us("Our organisation loves color.").passed


def test_language_and_code_switching() -> None:
    french = "Le sommet de la robotique aura lieu à Boston. Il est ouvert pour les étudiants et les chercheurs."
    assert tc.check_language(french, "French").passed
    english = "The summit will take place in Boston and it is open to students."
    assert not tc.check_language(english, "French").passed
    mixed = "The summit es muy importante and the people que vienen are from the city, pero the venue es grande."
    assert tc.check_language_mix(mixed, ["English", "Spanish"]).passed
    assert not tc.check_language_mix(english, ["English", "Spanish"]).passed


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("bullets", "- one\n- two", "one\ntwo"),
        ("numbered", "1. one\n2) two", "- one\n- two"),
        ("table", "| a | b |\n|---|---|\n| 1 | 2 |", "| a | b |\n| 1 | 2 |\n| 3 | 4 |"),
        ("headings", "# Title\ntext", "Title\ntext"),
    ],
)
def test_structure(kind: str, good: str, bad: str) -> None:
    assert tc.check_structure(good, kind).passed
    assert not tc.check_structure(bad, kind).passed


def test_markers_source_kept_copy_and_letters() -> None:
    assert tc.check_pattern("A [note] and [another]", r"\[[^\]]+\]", 2, "notes").passed
    assert not tc.check_pattern("A [note]", r"\[[^\]]+\]", 2, "notes").passed
    source = "the cat sat on the mat near the door"
    assert tc.check_source_kept("the cat [a pet] sat on the mat near the door", source, 0.9).passed
    assert not tc.check_source_kept("a dog ran", source, 0.5).passed
    assert not tc.check_ngram_overlap(source, source, n=5, max_fraction=0.3).passed
    assert tc.check_ngram_overlap("a feline rested upon a rug by the entrance", source, n=5).passed
    assert tc.check_letter_absent("A cat sat on a mat", "e").passed
    assert not tc.check_letter_absent("The cat", "e").passed
    assert tc.check_max_word_length("Short words only here", 6).passed
    assert not tc.check_max_word_length("Extraordinary", 6).passed
    assert tc.check_line_count("a\nb\n\nc\nd", 4).passed
    assert not tc.check_line_count("a\nb", 4).passed


def test_span_only() -> None:
    source = "First part stays.  This is the span.\nLast part stays."
    span = "This is the span."
    assert tc.split_span_output("First part stays. THIS IS THE SPAN. Last part stays.", source, span) == (
        "THIS IS THE SPAN."
    )
    assert tc.check_span_only("First part stays. THIS IS THE SPAN. Last part stays.", source, span).passed
    assert not tc.check_span_only("FIRST PART STAYS. THIS IS THE SPAN. Last part stays.", source, span).passed
    assert not tc.check_span_only("anything", source, "not in the source").passed


# ----
# Constraint specs
# ----
def test_evaluate_runs_every_constraint_and_not_empty_first() -> None:
    constraints = [
        {"check": "differs", "scope": "task"},
        {"check": "case", "target": "upper", "scope": "task"},
        {"check": "word_count", "max_words": 3, "scope": "all"},
    ]
    results = tc.evaluate(constraints, "HELLO THERE", "hello there")
    assert [r.name for r in results] == ["skill.not_empty", "skill.differs", "skill.case", "skill.word_count"]
    assert all(r.passed for r in results)
    failed = tc.evaluate(constraints, "Hello there friend and more", "hello there")
    assert [r.name for r in failed if not r.passed] == ["skill.case", "skill.word_count"]
    empty = tc.evaluate(constraints, "  ", "hello")
    assert [(r.name, r.passed) for r in empty] == [("skill.not_empty", False)]


def test_evaluate_scopes_json_and_span() -> None:
    source = "Keep this. Change this sentence. Keep that."
    constraints = [
        {"check": "json", "fields": ["text"], "scope": "all"},
        {"check": "span", "span": "Change this sentence.", "scope": "all"},
        {"check": "case", "target": "upper", "scope": "task"},
        {"check": "differs", "scope": "task"},
    ]
    good = json.dumps({"text": "Keep this. CHANGE THIS SENTENCE. Keep that."})
    results = tc.evaluate(constraints, good, source)
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    outside = json.dumps({"text": "KEEP THIS. CHANGE THIS SENTENCE. Keep that."})
    failed = [r.name for r in tc.evaluate(constraints, outside, source) if not r.passed]
    assert failed[0] == "skill.span_only"
    not_json = "Keep this. CHANGE THIS SENTENCE. Keep that."
    assert "skill.json" in [r.name for r in tc.evaluate(constraints, not_json, source) if not r.passed]


def test_entity_and_styling_specs_extract_from_the_scoped_source() -> None:
    source = "We sold 250 units in 3 days."
    keep = {"check": "entities_kept", "kinds": ["numbers"], "scope": "task"}
    assert tc.run_constraint(keep, "Sold 250 units over 3 days.", source).passed
    assert not tc.run_constraint(keep, "Sold many units.", source).passed
    styled = {"check": "styling", "style": "bold", "required_from": "numbers"}
    assert tc.run_constraint(styled, "We sold **250** units in **3** days.", source).passed
    assert not tc.run_constraint(styled, "We sold **250** units in 3 days.", source).passed


def test_unknown_constraint_fails_visibly() -> None:
    result = tc.run_constraint({"check": "nope"}, "x", "y")
    assert not result.passed
    assert result.name == "skill.unknown_constraint"


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ({"check": "case", "target": "upper"}, "upper case"),
        ({"check": "starts_with", "unit": "sentence", "prefix": "Notably"}, "'Notably'"),
        ({"check": "starts_with", "unit": "word", "prefix": "s", "every": 3}, "3-th word"),
        ({"check": "word_count", "min_ratio": 1.5}, "1.5 times"),
        ({"check": "word_count", "min_words": 40, "max_words": 60}, "at most 60 words"),
        ({"check": "entities_kept", "entities": ["Jane Doe"]}, "Jane Doe"),
        ({"check": "json", "fields": ["title"]}, "title"),
        ({"check": "redaction", "classes": ["names"], "names": ["Jane Doe"]}, "Jane Doe"),
        ({"check": "keywords", "words": ["venue"], "replacements": ["location"]}, "location"),
        ({"check": "dates_iso"}, "YYYY-MM-DD"),
        ({"check": "language", "language": "German"}, "German"),
        ({"check": "span", "span": "Only this."}, "Only this."),
        ({"check": "letter_absent", "letter": "e"}, "'e'"),
    ],
)
def test_describe_names_the_parameters(constraint: dict[str, object], expected: str) -> None:
    assert expected in tc.describe(constraint)
