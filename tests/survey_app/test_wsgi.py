"""wsgi.py, the entry point of the servers (gunicorn) and of `flask --app wsgi`."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_served_app_keeps_its_startup_objects_out_of_full_collections(tmp_path):
    """Without gc.freeze() a full collection walks every module and mapper of the app: ~100 ms
    here, once every few dozen dashboard requests."""
    probe = (
        "import gc; import wsgi; "
        "print(gc.get_freeze_count(), len(gc.get_objects(generation=2)), wsgi.app.name)"
    )
    env = {
        **os.environ,
        "SURVEY_ENV": "production",
        "SECRET_KEY": "test-not-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'survey.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    frozen, still_collected, name = result.stdout.split()
    assert name == "survey_app"
    assert int(frozen) > 50_000  # the modules, the app and its mappers
    assert int(still_collected) < int(frozen) // 20
