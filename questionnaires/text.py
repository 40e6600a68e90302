"""Which characters free text may hold, for every text the service stores or writes out.

Pure, like the rest of this package: the definitions' validator checks its labels with it, and
every service that stores free text (answers, names, codes, uploaded files) and every export
imports it from here, so that the rule is written once.

Not allowed anywhere:

- C0 controls (U+0000–U+001F) other than TAB and LF, DEL (U+007F) and C1 controls
  (U+0080–U+009F): invisible to the person reading the text; PostgreSQL refuses NUL in text,
  and XML (so XLSX) cannot carry most of them.
- The Unicode Bidi_Control characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069):
  they change the order in which the text around them is shown, so a name or a comment can be
  made to read differently from what it holds ("Trojan Source"). Vietnamese and English never
  need them, the two marks (U+200E, U+200F) included.
- Lone surrogates (U+D800–U+DFFF) and U+FFFE, U+FFFF: not characters; UTF-8 and XML cannot
  carry them.
- The line separators NEL (U+0085), U+2028 and U+2029, and CR: one line break (LF) is enough.

Multi-line text (comments, questionnaire labels) may hold TAB and LF; a single line (names,
codes, a CSV cell) neither. Zero-width joiners, combining marks and emoji are text and stay.

Two ways to use the rule, chosen per kind of field by its service: `clean_text` removes what is
not allowed (a citizen's comment is kept without the characters rather than lost), and
`find_unsafe_character` / `describe_unsafe_character` name the first one so that a person who
can retype the text (staff entering a name, an uploaded file) is told where it is.
"""

import re
from collections.abc import Mapping

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Everything above, except the line breaks that multi-line text keeps (TAB, LF) and those that
# `clean_text` turns into LF.
_NOT_TEXT = f"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f{BIDI_CONTROLS}\ud800-\udfff\ufffe\uffff"
_LINE_BREAKS = "\r\x85\u2028\u2029"
_UNSAFE_MULTILINE = re.compile(f"[{_NOT_TEXT}{_LINE_BREAKS}]")
_UNSAFE_SINGLE_LINE = re.compile(f"[{_NOT_TEXT}{_LINE_BREAKS}\t\n]")
_REMOVED = re.compile(f"[{_NOT_TEXT}]+")
_BREAK = re.compile(f"\r\n|[{_LINE_BREAKS}]")
_SINGLE_LINE_SPACE = re.compile(f"\r\n|[{_LINE_BREAKS}\t\n]")


def clean_text(text: str, *, multiline: bool = True) -> str:
    """`text` without the characters no text may hold. Multi-line: every line break (CR LF, CR,
    NEL, U+2028, U+2029) becomes LF; single-line: line breaks and TABs become a space."""
    if (_UNSAFE_MULTILINE if multiline else _UNSAFE_SINGLE_LINE).search(text) is None:
        return text  # nearly always: one scan, no copy (exports call this for every cell)
    text = (_BREAK if multiline else _SINGLE_LINE_SPACE).sub("\n" if multiline else " ", text)
    return _REMOVED.sub("", text)


def find_unsafe_character(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """(0-based position, character) of the first character `text` may not hold, or None."""
    found = (_UNSAFE_MULTILINE if multiline else _UNSAFE_SINGLE_LINE).search(text)
    return None if found is None else (found.start(), found.group())


def describe_unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """A refusal message naming the first character `text` may not hold and where it is, or
    None: "contains an invisible character (U+202E) at character 7, …"."""
    found = find_unsafe_character(text, multiline=multiline)
    if found is None:
        return None
    position, character = found
    if character == "\t":
        kind = "a tab"
    elif character == "\n" or character in _LINE_BREAKS:
        kind = "a line break"
    else:
        kind = "an invisible character"
    return (
        f"contains {kind} (U+{ord(character):04X}) at character {position + 1}, which is not "
        "allowed here; type the text again without it"
    )


def add_unsafe_text_problems(
    problems: dict[str, list[str]],
    fields: Mapping[str, str | None],
    *,
    multiline: bool = False,
) -> None:
    """Add to `problems` (field → messages, as a ValidationError holds them) the refusal of each
    of `fields` (field → text; None is no text) that holds a character it may not."""
    for field, text in fields.items():
        message = describe_unsafe_character(text or "", multiline=multiline)
        if message is not None:
            problems.setdefault(field, []).append(message)
