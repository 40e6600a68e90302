"""HTTP security settings applied to every response, and the client address behind proxies."""

from flask import Flask, Response
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
    """Security headers on every response; trust X-Forwarded-For only from TRUSTED_PROXIES hops."""
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    always = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
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
