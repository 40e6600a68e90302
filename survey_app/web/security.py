"""HTTP security settings applied to every response, and the client address behind proxies."""

import logging

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

# No inline script anywhere: every script is a file served by the app (kiosks run offline, and a
# comment typed by a citizen can never become code). Styles likewise come from files.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "worker-src 'self'",
        "manifest-src 'self'",
    ]
)


def init_security(app: Flask) -> None:
    """Security headers on every response (and `Cache-Control: no-store` where the view set no
    policy of its own), cookie sessions that cost nothing unused, and X-Forwarded-For trusted
    only from TRUSTED_PROXIES hops."""
    app.session_interface = CookieSessions()
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    else:
        app.before_request(_warn_of_an_untrusted_proxy)

    always = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        # Staff pages, exports, reports, the audit log and the API's figures must not stay in a
        # browser's or a proxy's cache after the session ends; every dynamic answer is private
        # to its moment. A response that sets its own policy keeps it: static files ("no-cache"
        # with an ETag, from Flask), the kiosk's shell and service worker ("no-cache").
        ("Cache-Control", "no-store"),
    ]
    if app.config.get("SESSION_COOKIE_SECURE"):
        always.append(("Strict-Transport-Security", "max-age=31536000"))

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # One pass over the headers a view set (it may set its own policy), not one per header:
        # this runs on every submission.
        present = {key.lower() for key, _ in response.headers}
        response.headers.extend([(k, v) for k, v in always if k.lower() not in present])
        return response


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without their work for a request that brings no session
    cookie and leaves the session untouched, as every kiosk and API submission does. Flask builds
    a signer to open an absent cookie and works out the cookie's settings to save nothing: about
    5 % of a submission's time in the worker (benchmarks/README.md, seventh session)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:  # read, empty: only "Vary: Cookie", as Flask would add
            # Flask-Login reads the session after every request; Flask's own path to this one
            # header (the cookie's seven settings, then `response.vary`'s parse and rewrite) cost
            # ~3 % of a submission's time in the worker (benchmarks/README.md, eighth session).
            vary = response.headers.get("Vary")
            if vary is None:
                response.headers["Vary"] = "Cookie"
            else:
                response.vary.add("Cookie")


_PROXY_WARNING_KEY = "survey_untrusted_proxy_warned"


def _warn_of_an_untrusted_proxy() -> None:
    """Once per process: a request came through a proxy (it carries X-Forwarded-For) while
    TRUSTED_PROXIES is 0. Every client then has the proxy's address, so the per-address limits
    (sign-in, poster forms) count everybody as one: a few wrong passwords would keep all staff
    out. The header itself is not trusted: a client can send it."""
    if "X-Forwarded-For" not in request.headers:
        return
    app = current_app._get_current_object()
    if app.extensions.get(_PROXY_WARNING_KEY):
        return
    app.extensions[_PROXY_WARNING_KEY] = True
    logging.getLogger(__name__).warning(
        "requests arrive with X-Forwarded-For but TRUSTED_PROXIES is 0: every client behind the "
        "proxy has its address, and per-address limits count them as one; set TRUSTED_PROXIES "
        "to the number of proxies in front of the app"
    )
