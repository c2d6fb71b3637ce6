from __future__ import annotations

import json
import re
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from calls.templating import _expressions, render, variables_errors


def test_render_substitutes_plain_and_spaced_placeholders() -> None:
    assert render("Hi {{name}}, {{ name }}!", {"name": "Ann"}).text == "Hi Ann, Ann!"


def test_render_follows_dotted_paths_into_nested_objects() -> None:
    variables = {"customer": {"first_name": "Ann", "address": {"city": "Oslo"}}}
    assert render("{{customer.first_name}} in {{ customer.address.city }}", variables).text == "Ann in Oslo"


@pytest.mark.parametrize("template", ["Hi {{ name | default('there') }}", 'Hi {{name|default("there")}}'])
def test_render_uses_the_default_when_the_variable_is_missing(template: str) -> None:
    rendered = render(template, {})
    assert rendered.text == "Hi there"
    assert rendered.missing == []


def test_render_prefers_the_value_over_the_default() -> None:
    assert render("Hi {{ name | default('there') }}", {"name": "Bo"}).text == "Hi Bo"


def test_render_lists_every_missing_variable_once() -> None:
    rendered = render("{{a}} {{b.c}} {{a}} {{ d | default('x') }}", {"b": {}})
    assert rendered.missing == ["a", "b.c"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(3, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), (None, ""), ({"x": 1}, '{"x":1}')],
)
def test_render_inserts_json_values_as_plain_text(value: object, text: str) -> None:
    assert render("[{{v}}]", {"v": value}).text == f"[{text}]"


def test_render_does_not_render_braces_inside_values_again() -> None:
    rendered = render("Hello {{name}}", {"name": "{{secret}}", "secret": "leaked"})
    assert rendered.text == "Hello {{secret}}"
    assert rendered.missing == []


@pytest.mark.parametrize(
    "template",
    ["{{ name.__class__ }}x{{ name | upper }}", "{% for x in y %}{{ x() }}", "{{ ''.join([]) }}", "{{ a[0] }}"],
)
def test_render_refuses_anything_but_names_paths_and_defaults(template: str) -> None:
    rendered = render(template, {"name": "Ann", "a": {"0": 1}})
    assert rendered.invalid, template


def test_render_does_not_reach_python_attributes_of_values() -> None:
    # `upper` is an attribute of str, not a key: a dotted path only walks JSON objects.
    assert render("{{name.upper}}", {"name": "ann"}).missing == ["name.upper"]


# A variable of about 60 KB (an object: strings are at most 1,000 characters) and a template that references it
# 1,000 times: rendered whole, 60 MB.
LARGE = {"o": {f"k{i:02}": "x" * 1000 for i in range(60)}}
LARGE_TEXT = json.dumps(LARGE["o"], separators=(",", ":"))
MANY_REFERENCES = "{{o}}" * 1000


def peak_allocated(work: Callable[[], Any]) -> tuple[Any, int]:
    """What `work` returns, and the most memory (bytes) it held allocated at once."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_render_stops_building_the_text_once_it_passes_the_limit_and_still_tells_the_whole_length() -> None:
    rendered = render(MANY_REFERENCES, LARGE, limit=1000)

    assert len(LARGE_TEXT) > 60_000
    assert rendered.text == LARGE_TEXT[:1001]
    assert rendered.length == 1000 * len(LARGE_TEXT)
    assert (rendered.missing, rendered.invalid) == ([], [])


def test_render_with_a_limit_costs_the_limit_not_the_whole_rendering() -> None:
    rendered, peak = peak_allocated(lambda: render(MANY_REFERENCES, LARGE, limit=1000))

    # The value converted once (60 KB) and the text up to the limit: not 1,000 copies of the value.
    assert len(rendered.text) == 1001
    assert peak < 500_000, peak


def test_render_still_names_every_missing_variable_after_the_limit() -> None:
    rendered = render(MANY_REFERENCES + "{{ first }} {{o}} {{second.name}} {{ first }}", LARGE, limit=10)

    assert rendered.missing == ["first", "second.name"]
    assert len(rendered.text) == 11


def test_render_within_the_limit_gives_the_whole_text() -> None:
    rendered = render("Hi {{name}}!", {"name": "Ann"}, limit=7)

    assert (rendered.text, rendered.length) == ("Hi Ann!", 7)


@pytest.mark.parametrize(
    "template",
    ["{{ a {{b}}", "{{a}} }} {{", "{{{{x}}}}", "}}{{a}}{{", "{{\n}}", "{{ a }} {{ b.c }} {{", "{{" * 50 + "}}", ""],
)
def test_expressions_are_found_as_a_lazy_regex_finds_them_in_linear_time(template: str) -> None:
    # The regex scans to the end of the text from every unclosed "{{": quadratic in a template full of them.
    assert list(_expressions(template)) == [m.group(0) for m in re.finditer(r"\{\{.*?\}\}", template, re.DOTALL)]


def test_variables_accepts_scalars_and_nested_objects() -> None:
    assert variables_errors({"a": "x", "b": 1, "c": 1.5, "d": True, "e": None, "f": {"g": {"h": "i"}}}) == []


@pytest.mark.parametrize(
    "variables",
    [
        [],
        "x",
        {"tags": ["a", "b"]},
        {f"k{i}": i for i in range(51)},
        {"a": "x" * 1001},
        {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
        {"": 1},
    ],
)
def test_variables_rejects_lists_oversize_and_malformed_objects(variables: object) -> None:
    assert variables_errors(variables)
