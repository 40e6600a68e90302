"""The door every request passes before its view: parameters that no person types and no honest
client sends are answered 400, naming the parameter, before any view or database sees them.

- Path parameters, and query-string keys and values: no C0 control character (NUL, TAB, CR, LF,
  …), at most MAX_VALUE_LENGTH characters each; at most MAX_QUERY_PARAMETERS in a query string,
  and none given twice (`?unit=A&unit=B` would leave it to each view which one counts).
- Form fields: no NUL (a textarea legitimately holds line breaks and tabs). Their size is
  bounded by MAX_CONTENT_LENGTH (413) and each form's own validators.
- JSON bodies are checked where they are read (web/jsonbody.py).
- `<int:…>` route arguments are at most MAX_INTEGER: a larger number matches no route (404).

Why each: PostgreSQL refuses NUL in text outright, which would be a 500 wherever a parameter
reaches a query; CR/LF in `next=` would break the Location header of the redirect after sign-in;
a number beyond an INTEGER column overflows the database driver.
"""

import re

from flask import Flask, request
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from survey_app.services.sql import MAX_INTEGER
from survey_app.services.submissions import shorten
from survey_app.web import error_response, wants_json

# The longest legitimate value is a `next=` path with the dashboard's filters (~200 characters)
# or a signed dossier token (~100); browsers and gunicorn (4,094-byte request line) stop at a few
# thousand characters for the whole address anyway.
MAX_VALUE_LENGTH = 2000
# The dashboard's filters are the most any page takes: about ten.
MAX_QUERY_PARAMETERS = 32

_CONTROL = re.compile("[\x00-\x1f]")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: ids, years and page numbers, at most MAX_INTEGER (the largest an
    INTEGER column holds); a longer number matches no route instead of overflowing the driver."""

    regex = r"\d{1,10}"

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_INTEGER, signed=False):
        super().__init__(url_map, fixed_digits, min, max, signed)


def init_request_guard(app: Flask) -> None:
    """Register the converter (before any route is added) and the guard. Call it before other
    extensions add their own before_request functions (CSRF reads the form), so that the guard
    answers first."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_unreadable_parameters)


def refuse_unreadable_parameters():
    """None when every parameter can be read; else the 400 answer naming the first that cannot.
    A request with no parameters costs a few attribute reads (~0.2 µs): the request object is
    taken from its proxy once, as each read through the proxy costs about as much as the rest."""
    req = request._get_current_object()
    view_args = req.view_args
    if view_args:
        for name, value in view_args.items():
            if value.__class__ is str and (len(value) > MAX_VALUE_LENGTH or _CONTROL.search(value)):
                return _refuse(name, _text_problem(value))
    if req.query_string:
        args = req.args
        if len(args) > MAX_QUERY_PARAMETERS:
            return _refuse("request", _too_many)
        for name, values in args.lists():
            if len(name) > MAX_VALUE_LENGTH or _CONTROL.search(name):
                return _refuse("request", _text_problem(name), shown=name)
            if len(values) > 1:
                return _refuse(name, _given_twice)
            value = values[0]
            if len(value) > MAX_VALUE_LENGTH or _CONTROL.search(value):
                return _refuse(name, _text_problem(value))
    if req.method == "POST" and req.mimetype in _FORM_TYPES:
        for name, values in req.form.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return _refuse(name if "\x00" not in name else "request", _nul_in_form, shown=name)
    return None


def _text_problem(text: str):
    return _control if _CONTROL.search(text) else _too_long


def _control(name: str) -> str:
    return _(
        "The parameter %(name)s contains a control character (such as NUL or a line break), "
        "which a web address cannot hold.",
        name=name,
    )


def _too_long(name: str) -> str:
    return _(
        "The parameter %(name)s is longer than %(limit)s characters.",
        name=name,
        limit=MAX_VALUE_LENGTH,
    )


def _given_twice(name: str) -> str:
    return _("The parameter %(name)s is given more than once; give it once.", name=name)


def _too_many(name: str) -> str:
    return _("The address has more than %(limit)s parameters.", limit=MAX_QUERY_PARAMETERS)


def _nul_in_form(name: str) -> str:
    return _("The field %(name)s contains a NUL character, which is not text.", name=name)


def _refuse(key: str, message, *, shown: str | None = None):
    """The app's error answer: 400, `{"errors": {key: [message]}}` in English for the API, the
    error page in the visitor's language otherwise."""
    name = shorten(key if shown is None else shown)
    if wants_json():
        with force_locale("en"):
            return error_response(400, {key: [message(name)]}, "")
    return error_response(400, {key: [message(name)]}, _("The request could not be read"))
