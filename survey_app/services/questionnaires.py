"""Questionnaire versions in the database: loading definition files, finding a version."""

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from questionnaires import DEFINITIONS_DIR, Definition, load_definitions, parse_definition
from survey_app.errors import NotFound, QuestionnaireVersionConflict
from survey_app.extensions import db
from survey_app.models import Questionnaire, Response
from survey_app.services.sql import MAX_INTEGER

log = logging.getLogger(__name__)

# Parsed definitions by content hash: a stored version's definition never changes under its hash,
# so parsing it once per process is enough.
_parsed_definitions: dict[str, Definition] = {}


def definition_of(questionnaire: Questionnaire) -> Definition:
    """The parsed definition of a stored questionnaire version."""
    definition = _parsed_definitions.get(questionnaire.content_hash)
    if definition is None:
        definition = parse_definition(
            questionnaire.definition,
            source=f"{questionnaire.key} v{questionnaire.version}",
            stored=True,
        )
        _parsed_definitions[questionnaire.content_hash] = definition
    return definition


def find_questionnaire_version(
    key: str, version: int | None
) -> tuple[Questionnaire, Definition] | None:
    """Version `version` of questionnaire `key` (None: any version, the newest)."""
    if version is not None and not 0 < version <= MAX_INTEGER:
        return None
    query = select(Questionnaire).where(Questionnaire.key == key)
    if version is not None:
        query = query.where(Questionnaire.version == version)
    questionnaire = db.session.scalar(query.order_by(Questionnaire.version.desc()).limit(1))
    if questionnaire is None:
        return None
    return questionnaire, definition_of(questionnaire)


def get_current_questionnaire(key: str) -> tuple[Questionnaire, Definition]:
    """The newest loaded version of questionnaire `key`; raises NotFound."""
    if not key.isprintable():
        raise NotFound("no such questionnaire is loaded")
    questionnaire = db.session.scalar(
        select(Questionnaire)
        .where(Questionnaire.key == key)
        .order_by(Questionnaire.version.desc())
        .limit(1)
    )
    if questionnaire is None:
        raise NotFound(f"no questionnaire {key!r} is loaded")
    return questionnaire, definition_of(questionnaire)


def list_questionnaires() -> list[Questionnaire]:
    return list(
        db.session.scalars(select(Questionnaire).order_by(Questionnaire.key, Questionnaire.version))
    )


@dataclass(frozen=True)
class LoadOutcome:
    key: str
    version: int
    status: str  # "added", "unchanged" or "updated"


def store_definition(definition: Definition) -> LoadOutcome:
    """Store `definition` as its (key, version).

    A version that already has responses is immutable: loading different content under it raises
    QuestionnaireVersionConflict (give the changed file a new version). A version without
    responses yet may still be corrected in place.
    """
    stored = db.session.scalar(
        select(Questionnaire).where(
            Questionnaire.key == definition.key, Questionnaire.version == definition.version
        )
    )
    if stored is None:
        db.session.add(
            Questionnaire(
                key=definition.key,
                version=definition.version,
                content_hash=definition.content_hash,
                definition=definition.to_dict(),
            )
        )
        db.session.flush()
        log.info("questionnaire loaded key=%s version=%s", definition.key, definition.version)
        return LoadOutcome(definition.key, definition.version, "added")
    if stored.content_hash == definition.content_hash:
        return LoadOutcome(definition.key, definition.version, "unchanged")
    responses = db.session.scalar(
        select(func.count()).select_from(Response).where(Response.questionnaire_id == stored.id)
    )
    if responses:
        raise QuestionnaireVersionConflict(
            f"{definition.key} version {definition.version} already has {responses:,} "
            f"{'response' if responses == 1 else 'responses'}, "
            f"so its questions cannot change. Give the changed file version "
            f"{_next_version(definition.key)} and load it again."
        )
    stored.content_hash = definition.content_hash
    stored.definition = definition.to_dict()
    db.session.flush()
    log.info("questionnaire corrected key=%s version=%s", definition.key, definition.version)
    return LoadOutcome(definition.key, definition.version, "updated")


def load_questionnaire_files(directory: Path = DEFINITIONS_DIR) -> list[LoadOutcome]:
    """Load every definition file in `directory` (raises DefinitionError naming file and field)."""
    return [store_definition(d) for _, d in sorted(load_definitions(directory).items())]


def _next_version(key: str) -> int:
    newest = db.session.scalar(
        select(func.max(Questionnaire.version)).where(Questionnaire.key == key)
    )
    return (newest or 0) + 1


_groupings: dict[str, object] = {}


def grouping_of(definition: Definition):
    """The analytics grouping (factors, contents, index weights) of a definition with an index
    (built once per definition: every submission and figure asks for it)."""
    if definition.content_hash not in _groupings:
        _groupings[definition.content_hash] = _build_grouping(definition)
    return _groupings[definition.content_hash]


def _build_grouping(definition: Definition):
    from analytics import IndexGrouping

    if definition.index is None:
        return None
    return IndexGrouping(
        factors={f.key: tuple(f.items) for f in definition.factors},
        contents={c.key: tuple(c.factors) for c in definition.contents},
        index=dict(definition.index.weights),
    )
