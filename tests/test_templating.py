from __future__ import annotations

import pytest

from calls.templating import render, variables_errors


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
