"""Questionnaire definitions (versioned YAML files with stable keys, vi + en texts) and their
pure loader/validator. Imports nothing of the app; importing it reads no file."""

from questionnaires.loader import (
    DEFINITIONS_DIR,
    DefinitionError,
    load_definition,
    load_definitions,
    parse_definition,
    parse_definition_yaml,
)
from questionnaires.model import (
    QUESTION_TYPES,
    Condition,
    Content,
    Definition,
    Factor,
    IndexSpec,
    LocalizedText,
    Option,
    Page,
    Question,
    QuestionType,
    Scale,
)
from questionnaires.schema import FACES, TEMPLATE_TOKENS

__all__ = [
    "DEFINITIONS_DIR",
    "FACES",
    "QUESTION_TYPES",
    "TEMPLATE_TOKENS",
    "Condition",
    "Content",
    "Definition",
    "DefinitionError",
    "Factor",
    "IndexSpec",
    "LocalizedText",
    "Option",
    "Page",
    "Question",
    "QuestionType",
    "Scale",
    "load_definition",
    "load_definitions",
    "parse_definition",
    "parse_definition_yaml",
]
