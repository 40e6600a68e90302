"""``analytics`` stays pure: no Flask, SQLAlchemy or ``survey_app`` anywhere in its files."""

import ast
from pathlib import Path

import analytics

FORBIDDEN = {"flask", "flask_sqlalchemy", "flask_wtf", "flask_login", "sqlalchemy", "survey_app"}
PACKAGE = Path(analytics.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_package_has_python_files() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) >= 5


def test_no_web_or_database_imports() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        for name in _imported_modules(path)
        if name.split(".")[0].lower() in FORBIDDEN
    }
    assert not offenders, f"analytics must stay pure, found imports: {sorted(offenders)}"


def test_detector_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import numpy\nfrom flask import Flask\nimport sqlalchemy.orm\n")
    assert {"flask", "sqlalchemy.orm", "numpy"} <= _imported_modules(module)
