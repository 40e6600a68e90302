"""The app in this process, against a benchmark database (for reading targets and timing figures)."""

import contextlib
import logging
from collections.abc import Iterator

from flask import Flask


@contextlib.contextmanager
def app_context(url: str) -> Iterator[Flask]:
    from survey_app import create_app, freeze_startup_objects
    from survey_app.extensions import db, dispose_engines

    app = create_app({"SECRET_KEY": "bench-not-secret", "SQLALCHEMY_DATABASE_URI": url})
    freeze_startup_objects()  # as wsgi.py does for the servers
    logging.getLogger("survey_app").setLevel(logging.WARNING)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            dispose_engines()


def demo_targets() -> tuple[int, list[tuple[str, str]]]:
    """(current sipas-counter version, [(unit code, counter code)] of the demo province)."""
    from sqlalchemy import select

    from survey_app.extensions import db
    from survey_app.models import Counter, Unit
    from survey_app.services.demo import DEMO_ROOT_CODE
    from survey_app.services.questionnaires import get_current_questionnaire

    questionnaire, _ = get_current_questionnaire("sipas-counter")
    root = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
    pairs = db.session.execute(
        select(Unit.code, Counter.code)
        .join(Counter, Counter.unit_id == Unit.id)
        .where(Unit.path.startswith(root.path), Unit.active, Counter.active)
        .order_by(Unit.code, Counter.code)
    ).all()
    return questionnaire.version, [(u, c) for u, c in pairs]


def submitting_keys(clients: int) -> list[str]:
    """`Authorization` headers of `clients` new API keys for submit_responses over the demo
    province (committed): the benchmarks' load submits with them, as that many partner apps
    would. One key per client: the default limit lets one key store 2 a second, so a load of
    hundreds a second through one key would measure a row no deployment shares."""
    from sqlalchemy import select

    from survey_app.extensions import db
    from survey_app.models import Unit
    from survey_app.services.api_keys import create_api_key
    from survey_app.services.demo import DEMO_ROOT_CODE

    root = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
    headers = []
    for number in range(clients):
        _, secret = create_api_key(
            f"benchmark client {number}", "submit_responses", root, created_by=None
        )
        headers.append(f"Bearer {secret}")
    db.session.commit()
    return headers
