"""Read, validate and build questionnaire definitions. Pure: no Flask, no database.

Every refusal is a `DefinitionError` naming the file and each bad field, so an admin uploading a
definition (or a developer editing one) can fix all problems in one go.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from questionnaires.model import (
    Condition,
    Content,
    Definition,
    Factor,
    IndexSpec,
    LocalizedText,
    Option,
    Page,
    Question,
    Scale,
)
from questionnaires.schema import (
    FACES,
    MAX_DEFINITION_KEY_LENGTH,
    STORED,
    DefinitionDoc,
    LocalizedTextDoc,
    OptionDoc,
    check_references,
)

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
MAX_FILE_BYTES = 1_000_000  # the annual form is ~40 KB; anything far larger is not a questionnaire
# A definition nests 7 levels deep (scales → scale → options → option → label → vi) and holds a few
# thousand values (the annual form ~2,200). Deeper nesting would exhaust the recursive composer's
# stack (a RecursionError, not a message), and a megabyte of tiny values takes seconds to read.
MAX_NESTING = 20
MAX_NODES = 20_000


class DefinitionError(ValueError):
    """A definition was refused. `problems` are "field.path: message" strings, all of them."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the two-argument form through pickling
        return (type(self), (self.source, self.problems))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML would keep the last silently), aliases
    (nothing in a definition needs them, and they let a small upload expand enormously: "billion
    laughs"), nesting deeper than MAX_NESTING and more than MAX_NODES values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._refuse("aliases (*name) are not allowed in a definition", mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            self._refuse(f"more than {MAX_NODES:,} values; a definition holds a few thousand", mark)
        if self._depth >= MAX_NESTING:
            self._refuse(
                f"nested more than {MAX_NESTING} levels deep; a definition needs fewer than 10",
                mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    @staticmethod
    def _refuse(problem: str, mark: Any) -> None:
        raise yaml.composer.ComposerError(None, None, problem, mark)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        context = f"{error.context}: " if error.context else ""
        return f"yaml: {context}{error.problem}{where}"
    return f"yaml: {error}"


def parse_definition_yaml(text: str, source: str = "<memory>") -> Definition:
    """Parse and validate a definition written as YAML text (e.g. an uploaded file)."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise DefinitionError(source, [f"<root>: larger than {MAX_FILE_BYTES} bytes"])
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as error:
        raise DefinitionError(source, [_yaml_problem(error)]) from None
    except RecursionError:  # MAX_NESTING keeps the composer well within the stack; in case
        raise DefinitionError(source, ["yaml: nested too deeply"]) from None
    return parse_definition(data, source)


def load_definition(path: str | Path) -> Definition:
    """Load one definition file; `DefinitionError.source` is the file's name."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DefinitionError(
            path.name, [f"<root>: not UTF-8 text ({error.reason} at byte {error.start})"]
        ) from None
    return parse_definition_yaml(text, path.name)


def load_definitions(directory: str | Path = DEFINITIONS_DIR) -> dict[str, Definition]:
    """Load every `*.yaml` in `directory`, by key; each file's `key` must equal its file stem."""
    definitions = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        definition = load_definition(path)
        if definition.key != path.stem:
            raise DefinitionError(
                path.name,
                [f"key: {definition.key!r} does not match the file name (expected {path.stem!r})"],
            )
        definitions[definition.key] = definition
    return definitions


def parse_definition(mapping: Any, source: str = "<memory>", *, stored: bool = False) -> Definition:
    """Validate a definition given as a mapping (parsed YAML, or JSON from the database or an
    upload) and build it. Untrusted input is fine: nothing is coerced, everything is checked.

    `stored`: the mapping is a version read back from the database, checked when it was loaded;
    its texts are not checked again for characters no text may hold (questionnaires/text.py), so
    that a rule made stricter since cannot make a stored version unreadable."""
    if isinstance(mapping, Mapping) and not isinstance(mapping, dict):
        mapping = dict(mapping)
    if not isinstance(mapping, dict):
        got = "nothing (the document is empty)" if mapping is None else type(mapping).__name__
        raise DefinitionError(source, [f"<root>: a definition must be a mapping, got {got}"])
    try:
        doc = DefinitionDoc.model_validate(mapping, context={STORED: stored})
    except ValidationError as error:
        raise DefinitionError(source, [_pydantic_problem(e) for e in error.errors()]) from None
    problems = check_references(doc)
    if problems:
        raise DefinitionError(source, problems)
    return _build(doc)


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (key)"
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def _show(value: Any) -> str:
    # Refused input may be huge or hostile: echo only the start of it.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problem(error: Any) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        message = "missing (required)"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif loc == ("version",):
        message = f"must be a positive integer (got {_show(value)})"
    elif kind == "string_pattern_mismatch" and loc == ("key",):
        message = (
            f"{_show(value)} is not a valid questionnaire key "
            "(lower-case letters and digits, single hyphens between, like 'sipas-counter'; "
            f"at most {MAX_DEFINITION_KEY_LENGTH} characters)"
        )
    elif kind == "string_pattern_mismatch":
        message = (
            f"{_show(value)} is not a valid key "
            "(a letter, then letters, digits or _; at most 64 characters)"
        )
    elif kind == "literal_error" and loc[-1] == "face":
        message = f"unknown face {_show(value)} (known: {', '.join(FACES)})"
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        if kind != "string_too_long" and not isinstance(value, (dict, list)):
            message += f" (got {_show(value)})"
    return f"{_path(loc)}: {message}"


def _text(doc: LocalizedTextDoc | None) -> LocalizedText | None:
    return None if doc is None else LocalizedText(vi=doc.vi, en=doc.en)


def _options(docs: list[OptionDoc]) -> tuple[Option, ...]:
    return tuple(
        Option(value=o.value, label=LocalizedText(o.label.vi, o.label.en), face=o.face)
        for o in docs
    )


def _build(doc: DefinitionDoc) -> Definition:
    data = doc.model_dump(mode="json", exclude_defaults=True)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    scales = {
        name: Scale(key=name, options=_options(s.options), positive=frozenset(s.positive))
        for name, s in doc.scales.items()
    }
    questions = []
    for q in doc.questions:
        scale = scales[q.scale] if q.type == "scale" and q.scale is not None else None
        questions.append(
            Question(
                key=q.key,
                type=q.type,
                text=LocalizedText(q.text.vi, q.text.en),
                note=_text(q.note),
                required=q.required,
                scale=scale,
                options=scale.options if scale else _options(q.options or []),
                positive=scale.positive if scale else frozenset(q.positive or ()),
                max_length=q.max_length,
                show_if=None
                if q.show_if is None
                else Condition(question=q.show_if.question, values=frozenset(q.show_if.values)),
            )
        )
    index = None
    if doc.index is not None:
        index = IndexSpec(
            key=doc.index.key,
            label=LocalizedText(doc.index.label.vi, doc.index.label.en),
            weights=MappingProxyType(dict(doc.index.weights)),
        )
    return Definition(
        key=doc.key,
        version=doc.version,
        title=LocalizedText(doc.title.vi, doc.title.en),
        description=_text(doc.description),
        formula_version=doc.formula_version,
        scales=MappingProxyType(scales),
        questions=tuple(questions),
        factors=tuple(
            Factor(f.key, LocalizedText(f.label.vi, f.label.en), tuple(f.items))
            for f in doc.factors
        ),
        contents=tuple(
            Content(c.key, LocalizedText(c.label.vi, c.label.en), tuple(c.factors))
            for c in doc.contents
        ),
        index=index,
        headline=doc.headline,
        pages=tuple(
            Page(p.key, LocalizedText(p.title.vi, p.title.en), tuple(p.questions), _text(p.note))
            for p in doc.pages
        ),
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        canonical_json=canonical,
    )
