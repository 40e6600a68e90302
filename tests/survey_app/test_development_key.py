"""The development key (`make run`, SURVEY_ENV=development): random per instance folder, kept in
instance/secret_key with mode 0600, reused on every start, never a string from the repository."""

import stat
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from survey_app import create_app
from survey_app.config import DevelopmentConfig, instance_secret_key
from survey_app.extensions import db, dispose_engines
from survey_app.services.kiosks import CREDENTIAL_SALT, create_kiosk, enrol

REPO = Path(__file__).resolve().parents[2]
# The key DevelopmentConfig once shipped: anybody who read the repository could sign with it.
PUBLISHED_KEY = "dev-only-not-secret"


def development_app(key_file: Path, database_url: str):
    config = type(
        "Development",
        (DevelopmentConfig,),
        {
            "SECRET_KEY_FILE": str(key_file),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SETTLE_INTERVAL_SECONDS": 0,
        },
    )
    return create_app(config)


def started_key(instance: Path) -> str:
    app = development_app(instance / "secret_key", f"sqlite:///{instance / 'survey.db'}")
    return app.config["SECRET_KEY"]


def test_a_fresh_instance_gets_a_random_key_only_its_owner_can_read(tmp_path):
    key = started_key(tmp_path / "instance")
    kept = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().strip() == key
    assert len(bytes.fromhex(key)) >= 32
    assert len(set(key)) > 8  # not a constant padded out
    assert [p.name for p in kept.parent.iterdir() if "secret_key" in p.name] == ["secret_key"]


def test_the_kept_key_is_used_again_on_the_next_start(tmp_path):
    first = started_key(tmp_path / "instance")
    assert started_key(tmp_path / "instance") == first


def test_two_instances_get_different_keys(tmp_path):
    assert started_key(tmp_path / "one") != started_key(tmp_path / "two")


def test_a_key_from_the_environment_wins_and_no_file_is_made(tmp_path):
    config = type(
        "Development",
        (DevelopmentConfig,),
        {
            "SECRET_KEY": "from-the-environment",
            "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'survey.db'}",
        },
    )
    assert create_app(config).config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_a_truncated_key_file_is_refused_not_used(tmp_path):
    (tmp_path / "secret_key").write_text("short\n")
    with pytest.raises(RuntimeError, match="delete it"):
        instance_secret_key(tmp_path / "secret_key")


def test_no_fixed_development_key_is_left_in_the_code():
    assert "SECRET_KEY" not in vars(DevelopmentConfig)  # only the environment or the file
    for path in [REPO / "wsgi.py", REPO / "Makefile", *sorted((REPO / "survey_app").rglob("*.py"))]:
        assert PUBLISHED_KEY not in path.read_text(encoding="utf-8"), path


def test_a_kiosk_credential_signed_with_the_published_key_is_refused(app, tree, tmp_path):
    kiosk, token = create_kiosk(
        counter=tree.q1, questionnaire_key="quick-rating", name="Tablet Q1", created_by=None
    )
    enrol(token, secret_key=app.config["SECRET_KEY"])
    db.session.commit()
    claim = {"k": kiosk.id, "v": kiosk.credential_version}
    forged = URLSafeSerializer(PUBLISHED_KEY, salt=CREDENTIAL_SALT).dumps(claim)

    development = development_app(tmp_path / "secret_key", app.config["SQLALCHEMY_DATABASE_URI"])
    genuine = URLSafeSerializer(development.config["SECRET_KEY"], salt=CREDENTIAL_SALT).dumps(claim)
    client = development.test_client()
    try:
        refused = client.post(
            "/api/v1/kiosk/heartbeat", json={}, headers={"Authorization": f"Kiosk {forged}"}
        )
        accepted = client.post(
            "/api/v1/kiosk/heartbeat", json={}, headers={"Authorization": f"Kiosk {genuine}"}
        )
    finally:
        with development.app_context():
            db.session.remove()
            dispose_engines()
    assert refused.status_code == 401 and refused.json["error"] == "kiosk_unknown"
    assert accepted.status_code == 200  # the same claim, signed with this instance's key
