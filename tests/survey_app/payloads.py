"""Valid payloads to start from; each test changes what it tests."""

import uuid


def quick_payload(**overrides) -> dict:
    """A valid quick-rating response for unit P-W1, counter Q1."""
    payload = {
        "id": str(uuid.uuid4()),
        "questionnaire": "quick-rating",
        "version": 1,
        "unit": "P-W1",
        "counter": "Q1",
        "locale": "vi",
        "answers": {"rating": 3},
    }
    payload.update(overrides)
    return payload


def counter_payload(**overrides) -> dict:
    """A valid sipas-counter response (all 16 items, overall and a comment) for P-W1 / Q2."""
    answers = {f"c9_{n}": 4 + n % 2 for n in range(24, 40)}
    answers.update({"overall": 4, "comment": "Cán bộ nhiệt tình <script>alert(1)</script>"})
    payload = {
        "id": str(uuid.uuid4()),
        "questionnaire": "sipas-counter",
        "version": 1,
        "unit": "P-W1",
        "counter": "Q2",
        "answers": answers,
    }
    payload.update(overrides)
    return payload
