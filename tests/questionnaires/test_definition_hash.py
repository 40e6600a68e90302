"""content_hash: the same for the same content however it is written, different for any change."""

import copy
import functools
import json
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from questionnaires import (
    DEFINITIONS_DIR,
    Definition,
    DefinitionError,
    load_definition,
    parse_definition,
    parse_definition_yaml,
)

SHIPPED = ("quick-rating", "sipas-annual", "sipas-counter")


def _file_text(key: str) -> str:
    return (DEFINITIONS_DIR / f"{key}.yaml").read_text(encoding="utf-8")


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every scalar in a JSON-like tree."""
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [path]


def _replace(data: Any, path: tuple, value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@functools.cache
def _shipped(key: str) -> Definition:
    return load_definition(DEFINITIONS_DIR / f"{key}.yaml")


def _raw(key: str) -> Any:
    """The file as plain YAML data, comments gone (a fresh copy: tests may change it)."""
    return yaml.safe_load(_file_text(key))


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if value in ("very_sad", "sad", "neutral", "happy", "very_happy"):
        return "neutral" if value != "neutral" else "happy"
    return value + " x"


@pytest.mark.parametrize("key", SHIPPED)
def test_comments_and_layout_do_not_change_the_hash(key):
    original = load_definition(DEFINITIONS_DIR / f"{key}.yaml")
    data = yaml.safe_load(_file_text(key))  # drops every comment of the shipped file
    rewritten = "# rewritten\n\n" + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=True, width=60
    )
    assert parse_definition_yaml(rewritten).content_hash == original.content_hash
    flow = yaml.safe_dump(data, default_flow_style=True, allow_unicode=False, width=10**6)
    assert parse_definition_yaml(flow).content_hash == original.content_hash


@settings(max_examples=15, deadline=None)
@given(
    key=st.sampled_from(SHIPPED),
    flow=st.sampled_from([True, False, None]),
    indent=st.integers(2, 9),
    width=st.sampled_from([20, 80, 10**6]),
    unicode=st.booleans(),
    sort_keys=st.booleans(),
    explicit=st.booleans(),
)
def test_any_yaml_layout_gives_the_same_hash(
    key, flow, indent, width, unicode, sort_keys, explicit
):
    expected = _shipped(key).content_hash
    data = _raw(key)
    text = yaml.safe_dump(
        data,
        default_flow_style=flow,
        indent=indent,
        width=width,
        allow_unicode=unicode,
        sort_keys=sort_keys,
        explicit_start=explicit,
    )
    # PyYAML's emitter can itself mangle escaped strings in narrow flow layouts; such a dump does
    # not hold the same data, so it says nothing about the hash.
    assume(yaml.safe_load(text) == data)
    assert parse_definition_yaml(text).content_hash == expected


def test_writing_a_default_out_does_not_change_the_hash():
    """The hash is over the validated data: `required: false` written or left out is the same."""
    data = yaml.safe_load(_file_text("sipas-counter"))
    original = parse_definition(data).content_hash
    data["questions"][0]["required"] = False
    data["index"]["weights"] = {"service": 1}
    assert parse_definition(data).content_hash == original
    data["questions"][0]["required"] = True
    assert parse_definition(data).content_hash != original


def test_the_hash_is_sha256_of_the_canonical_json():
    import hashlib

    definition = load_definition(DEFINITIONS_DIR / "quick-rating.yaml")
    canonical = json.dumps(
        definition.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert definition.content_hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("key", ["quick-rating", "sipas-counter"])
def test_any_change_of_any_value_changes_the_hash_or_is_refused(key):
    definition = load_definition(DEFINITIONS_DIR / f"{key}.yaml")
    data = definition.to_dict()
    texts_checked = 0
    text_paths = sum(p[-1] in ("vi", "en") for p in _leaves(data))
    for path in _leaves(data):
        changed = _replace(data, path, _changed(_get(data, path)))
        try:
            new_hash = parse_definition(changed).content_hash
        except DefinitionError:
            assert path[-1] not in ("vi", "en"), path  # a changed text is always acceptable
            continue
        assert new_hash != definition.content_hash, path
        texts_checked += path[-1] in ("vi", "en")
    assert texts_checked == text_paths


def test_reordering_options_changes_the_hash():
    data = load_definition(DEFINITIONS_DIR / "quick-rating.yaml").to_dict()
    original = parse_definition(data).content_hash
    data["questions"][1]["options"].reverse()
    assert parse_definition(data).content_hash != original


@settings(max_examples=40, deadline=None)
@given(
    leaf=st.integers(min_value=0),
    suffix=st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="[]"),
        min_size=1,
        max_size=20,
    ),
)
def test_any_text_edit_in_the_annual_form_changes_the_hash(leaf, suffix):
    definition = _shipped("sipas-annual")
    data = definition.to_dict()
    text_paths = [p for p in _leaves(data) if p[-1] in ("vi", "en")]
    path = text_paths[leaf % len(text_paths)]
    changed = _replace(data, path, _get(data, path) + suffix)
    assert parse_definition(changed).content_hash != definition.content_hash
