"""Web security: the headers every response carries, templates that need no inline script, safe
session cookies, size limits, no debugger or traceback in production, a required SECRET_KEY, and
X-Forwarded-For trusted only as deep as TRUSTED_PROXIES says."""

import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from flask import request

from survey_app import create_app
from survey_app.config import Config
from survey_app.extensions import db, dispose_engines
from survey_app.settler import stop_settler
from tests.reliability.known_bugs import xfail_if_known
from tests.reliability.server import REPO, free_port

TEMPLATES = REPO / "survey_app" / "templates"


@pytest.fixture
def production_app(database_url, app):
    """Build the app as production does (Config, not TestingConfig) on the test database, with
    config overrides; its connections are closed after the test."""
    built = []

    def build(**overrides):
        config = type(
            "ProductionTestConfig",
            (Config,),
            {
                "SECRET_KEY": "test-secret",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SESSION_COOKIE_SECURE": True,
                **overrides,
            },
        )
        built.append(create_app(config))
        return built[-1]

    yield build
    for application in built:
        stop_settler(application)  # production apps settle in the background; not after the test
        with application.app_context():
            db.session.remove()
            dispose_engines()


# Headers


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_secure_headers(response, what: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy")
    assert csp, f"{what}: no Content-Security-Policy"
    directives = csp_directives(csp)
    for directive in ("script-src", "style-src"):
        sources = directives.get(directive, directives.get("default-src"))
        assert sources, f"{what}: CSP has neither {directive} nor default-src"
        for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
            assert unsafe not in sources, f"{what}: {directive} allows {unsafe}"
    assert directives.get("frame-ancestors") == ["'none'"], what
    assert directives.get("object-src") == ["'none'"], what
    assert "base-uri" in directives, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }, what
    assert headers.get("X-Frame-Options") == "DENY", what


def test_every_get_route_answers_with_the_security_headers(app, client, tree):
    """Every route without parameters, whatever it answers (page, JSON, redirect to sign-in)."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments:
            continue
        response = client.get(rule.rule)
        assert response.status_code < 500, rule.rule
        assert_secure_headers(response, f"GET {rule.rule} ({response.status_code})")
        checked += 1
    assert checked >= 3
    for path in (
        "/static/css/site.css",
        "/api/v1/questionnaires/sipas-counter",
        "/api/v1/questionnaires/nope",  # a JSON 404
        "/no-such-page",  # an HTML 404
    ):
        with client.get(path) as response:
            assert_secure_headers(response, path)
    assert_secure_headers(
        client.post("/api/v1/responses", data=b"{", content_type="application/json"), "a 401"
    )


def test_production_sends_hsts_and_secure_cookies_only(production_app):
    production = production_app()
    response = production.test_client().get("/?lang=en")  # ?lang= is kept in the session
    assert response.headers.get("Strict-Transport-Security", "").startswith("max-age=")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookies = [c for c in cookies if c.startswith(production.config["SESSION_COOKIE_NAME"])]
    assert session_cookies, cookies
    for cookie in session_cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert "httponly" in attributes, cookie
        assert "secure" in attributes, cookie
        assert re.search(r";\s*SameSite=(Lax|Strict)", cookie, re.IGNORECASE), cookie


def test_the_session_cookie_is_httponly_and_samesite_in_every_configuration(client):
    cookie = client.get("/?lang=vi").headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert re.search(r"SameSite=(Lax|Strict)", cookie), cookie


def test_the_session_cookie_is_sent_only_when_the_session_changes(app, tree):
    """A response that leaves the session as it was sends no cookie. Re-sent with every response
    (Flask's default for a permanent session), the stylesheet of a page left before it loaded
    could put back the session it was asked with, undoing a language switch made meanwhile."""
    from survey_app.services.accounts import add_scope, create_account

    account = create_account("clerk", "correct horse battery", display_name="Clerk")
    add_scope(account, tree.ward, "manager")
    db.session.commit()
    client = app.test_client()
    signed_in = client.post(
        "/login", data={"username": "clerk", "password": "correct horse battery"}
    )
    assert signed_in.status_code == 302 and "Set-Cookie" in signed_in.headers
    assert client.get("/staff/").status_code == 200  # its first form adds a CSRF token
    page = client.get("/staff/")
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    with client.get("/static/css/site.css") as stylesheet:
        assert stylesheet.status_code == 200 and "Set-Cookie" not in stylesheet.headers
    switched = client.get("/staff/?lang=en")
    assert switched.status_code == 200 and "Set-Cookie" in switched.headers
    assert "Set-Cookie" not in client.get("/staff/").headers
    assert client.get("/staff/").get_data(as_text=True).count('lang="en"') == 1


def test_a_response_that_read_the_session_varies_on_the_cookie_once(app):
    """Flask-Login reads the session after every request: a cache must then know the response
    depends on the cookie, and say so once, beside whatever the view varies on."""
    from flask import session

    @app.get("/test-reads-the-session")
    def reads_the_session():
        session.get("lang")
        return "read"

    @app.get("/test-varies-on-language")
    def varies_on_language():
        return "vary", 200, {"Vary": "Accept-Language"}

    client = app.test_client()
    submission = client.post("/api/v1/responses", data=b"{", content_type="application/json")
    assert submission.headers.getlist("Vary") == ["Cookie"]
    assert "Set-Cookie" not in submission.headers
    assert client.get("/test-reads-the-session").headers.getlist("Vary") == ["Cookie"]
    assert client.get("/test-varies-on-language").headers.getlist("Vary") == [
        "Accept-Language, Cookie"
    ]


# Templates: nothing the CSP would block (and so nothing a page silently depends on)


class InlineCodeFinder(HTMLParser):
    """Finds inline <script>/<style> bodies, on*= handlers, style= and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._open: str | None = None
        self._body = ""

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                self.problems.append(f"line {line}: <{tag} {name}=…> (an inline event handler)")
            elif name == "style":
                self.problems.append(f"line {line}: <{tag} style=…> (an inline style)")
            elif value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"line {line}: <{tag} {name}=javascript:…>")
        if tag == "style" or (tag == "script" and "src" not in dict(attrs)):
            self._open, self._body = tag, ""

    def handle_data(self, data):
        if self._open:
            self._body += data

    def handle_endtag(self, tag):
        if tag == self._open:
            if self._body.strip() or tag == "style":
                self.problems.append(f"line {self.getpos()[0]}: an inline <{tag}> body")
            self._open = None


def inline_code(text: str) -> list[str]:
    # Jinja tags inside a start tag ({% if %}…{% endif %}) would read as attribute names.
    text = re.sub(r"{%.*?%}|{#.*?#}", " ", text, flags=re.DOTALL)
    finder = InlineCodeFinder()
    finder.feed(text)
    finder.close()
    return finder.problems


def test_the_template_scanner_catches_each_kind_of_inline_code():
    assert inline_code('<script src="/static/app.js"></script>') == []
    assert inline_code('<a href="{{ url }}" {% if x %}aria-current="true"{% endif %}>x</a>') == []
    assert len(inline_code("<script>alert(1)</script>")) == 1
    assert len(inline_code('<button onclick="go()">x</button>')) == 1
    assert len(inline_code('<div style="color: red">x</div>')) == 1
    assert len(inline_code("<style>p { color: red }</style>")) == 1
    assert len(inline_code('<a href="javascript:go()">x</a>')) == 1
    assert len(inline_code('<form ONSUBMIT="return check()"></form>')) == 1


def test_no_template_has_inline_script_handlers_or_styles():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates, TEMPLATES
    found = {
        str(path.relative_to(REPO)): problems
        for path in templates
        if (problems := inline_code(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "the CSP forbids these; move them to files under static/"


# Request size


def test_a_body_over_the_limit_is_413_with_a_clear_message(api_client):
    limit = api_client.application.config["MAX_CONTENT_LENGTH"]
    response = api_client.post(
        "/api/v1/responses", data=b"{" + b" " * limit + b"}", content_type="application/json"
    )
    assert response.status_code == 413
    assert "KiB limit" in response.json["errors"]["request"][0]


def test_a_chunked_body_without_length_is_cut_at_the_limit_too(request, api_client, backend):
    """Behind gunicorn a chunked upload has no Content-Length: the limit still applies."""
    xfail_if_known(request, "chunked over the limit", backend)
    limit = api_client.application.config["MAX_CONTENT_LENGTH"]
    body = b'{"comment": "' + b"x" * (limit + 10) + b'"}'
    response = api_client.post(
        "/api/v1/responses",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413, response.get_data(as_text=True)[:300]


# Errors in production


def test_production_runs_without_debug_and_hides_tracebacks(production_app):
    production = production_app()
    assert production.debug is False
    assert not production.testing
    assert not production.config.get("PROPAGATE_EXCEPTIONS")

    def explode():
        raise RuntimeError("secret internal detail /etc/passwd")

    # Test-only routes, on this app instance only.
    production.add_url_rule("/test-only/explode", "explode", explode)
    production.add_url_rule("/api/v1/test-only/explode", "api_explode", explode)
    client = production.test_client()
    for path in ("/test-only/explode", "/api/v1/test-only/explode"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        for leak in ("Traceback", "RuntimeError", "secret internal detail", 'File "', "werkzeug"):
            assert leak not in body, f"{path}: {leak!r} in the error body"
        assert_secure_headers(response, path)
    assert "errors" in client.get("/api/v1/test-only/explode").json


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SURVEY_ENV")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("secret", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, secret):
    env = {"SURVEY_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = run_python("import wsgi", env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "SURVEY_ENV=development" in result.stderr  # says what to do instead


def test_development_starts_without_a_secret_key(tmp_path):
    env = {"SURVEY_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = run_python("import wsgi; print(wsgi.app.debug)", env)
    assert result.returncode == 0, result.stderr


def test_gunicorn_refuses_to_boot_without_a_secret_key_and_says_why(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SURVEY_ENV")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
            "wsgi:app",
        ],
        cwd=REPO,
        env={**clean, "SURVEY_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


# The client's address behind proxies


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # no proxy trusted: the header is anybody's lie
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.66, 203.0.113.7", "203.0.113.7"),  # a spoofed hop before ours: ignored
        (2, "198.51.100.66, 203.0.113.7", "198.51.100.66"),
        (2, "203.0.113.7", "10.0.0.2"),  # fewer hops than configured: keep the socket address
        (1, None, "10.0.0.2"),
    ],
)
def test_remote_addr_comes_from_x_forwarded_for_only_as_deep_as_configured(
    production_app, trusted, forwarded_for, expected
):
    production = production_app(TRUSTED_PROXIES=trusted)
    production.add_url_rule("/test-only/address", "address", lambda: request.remote_addr or "")
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = production.test_client().get(
        "/test-only/address", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert response.get_data(as_text=True) == expected


def test_a_proxy_not_configured_as_trusted_is_reported_once(production_app, caplog):
    """Behind a proxy with TRUSTED_PROXIES=0 every client has the proxy's address and the
    per-address limits count them all as one: the log says so, once per process."""
    production = production_app(TRUSTED_PROXIES=0)
    client = production.test_client()
    with caplog.at_level("WARNING", logger="survey_app.web.security"):
        client.get("/healthz")
        assert "TRUSTED_PROXIES" not in caplog.text
        for _ in range(3):
            client.get("/healthz", headers={"X-Forwarded-For": "198.51.100.7"})
    assert caplog.text.count("TRUSTED_PROXIES is 0") == 1
