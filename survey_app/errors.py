"""Domain errors raised by services. No Flask here: the web layer translates them to HTTP."""


class DomainError(Exception):
    """Base of every error a service raises on purpose."""


class NotFound(DomainError):
    """The thing asked for does not exist (or is outside the caller's scope)."""


class ValidationError(DomainError):
    """Input broke one or more rules; `problems` maps a field path to messages a person understands."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__(
            "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items())
        )


class Conflict(DomainError):
    """The request contradicts what is already stored (e.g. an id reused with other content)."""


class QuestionnaireVersionConflict(Conflict):
    """A changed definition was loaded under a version that is already stored."""


class RateLimited(DomainError):
    """Too many requests from one client (a kiosk, an API key) in a window; try again later."""

    def __init__(self, message: str, retry_after_seconds: int):
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)
