"""Configuration classes. Secrets and the database URL come from the environment, never the repo."""

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_SQLITE_URL = f"sqlite:///{INSTANCE_DIR / 'survey.db'}"


class Config:
    """Production defaults: safe unless told otherwise."""

    ENV_NAME = "production"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL)
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_pre_ping": True}
    # Seconds a SQLite writer waits for the lock before giving up (kiosks submit in bursts).
    SQLITE_BUSY_TIMEOUT_MS = 10_000

    # A submission stores one row; its answers are settled into answer rows, counts and moments
    # by a background thread in each server process, which looks every SETTLE_INTERVAL_SECONDS
    # (0: no thread, for a deployment that runs `flask settle --follow` beside its web workers)
    # and settles SETTLE_BATCH_SIZE responses per transaction once no response has arrived for
    # SETTLE_QUIET_SECONDS (a burst of kiosks goes first) or the oldest pending one has waited
    # SETTLE_MAX_DELAY_SECONDS. Live figures are at most that far behind, and say so
    # (survey_app/settler.py).
    SETTLE_INTERVAL_SECONDS = float(os.environ.get("SETTLE_INTERVAL_SECONDS", "0.25"))
    # Per database (or one number for all): SQLite holds its one write lock for the batch and
    # submissions queue behind it, so its batches stay short; PostgreSQL's settlers block no
    # submission, and a larger batch costs less per response.
    SETTLE_BATCH_SIZE: ClassVar[dict] = {"sqlite": 50, "postgresql": 500}
    SETTLE_QUIET_SECONDS = float(os.environ.get("SETTLE_QUIET_SECONDS", "1"))
    SETTLE_MAX_DELAY_SECONDS = float(os.environ.get("SETTLE_MAX_DELAY_SECONDS", "30"))
    # Seconds another process's change to a unit, counter or questionnaire may take to reach
    # this process's submissions (services/catalogue.py); changes made here apply at once.
    CATALOGUE_CACHE_SECONDS = 5.0

    # Periods (day, month, quarter, year) are counted in this time zone.
    LOCAL_TIMEZONE = os.environ.get("LOCAL_TIMEZONE", "Asia/Ho_Chi_Minh")

    # A response is a few KiB; anything far bigger is a mistake or an attack. Uploads (CSV
    # imports, questionnaire YAML: the views marked @accepts_upload, web/uploads.py) may be larger.
    MAX_CONTENT_LENGTH = 64 * 1024
    UPLOAD_MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    # How far in the future a client clock may be, and how old a queued response may arrive.
    SUBMITTED_AT_MAX_SKEW_SECONDS = 300
    SUBMITTED_AT_MAX_AGE_DAYS = 90

    # Tablet kiosks: seconds idle on a question before the screen resets for the next citizen,
    # seconds the thank-you screen stays, how often the tablet reports in, how long an enrolment
    # link stays valid, and how many submissions (and heartbeats) one kiosk may send per minute.
    KIOSK_IDLE_SECONDS = 30
    # Seconds a long form asks "Ông/Bà còn tiếp tục không?" before it sends what was answered
    # (marked incomplete) and starts again for the next citizen.
    KIOSK_PROMPT_SECONDS = 20
    KIOSK_THANKS_SECONDS = 5
    KIOSK_HEARTBEAT_SECONDS = 60
    KIOSK_ENROLMENT_HOURS = 24
    KIOSK_RATE_PER_MINUTE = 30
    # Responses one API key (a partner app, the public-service portal) may submit per minute, in
    # all its units together (a 429 with Retry-After beyond it).
    API_KEY_SUBMISSIONS_PER_MINUTE = int(os.environ.get("API_KEY_SUBMISSIONS_PER_MINUTE", "120"))
    # The address citizens' phones and tablets reach the service at, for every link and QR code
    # the service shows or prints (web/helpers.public_url: posters, dossier codes, annual forms,
    # kiosk enrolment) and the URLs the CLI prints (e.g. https://khaosat.example.gov.vn): set,
    # no link follows the Host header a request carried; unset, pages use the request's own
    # host, and the CLI asks for --base-url.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL")

    # Statistics shown to staff.
    DEFAULT_TARGET = 0.90
    MIN_N = 30

    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = LOCAL_TIMEZONE
    LANGUAGES = ("vi", "en")

    # How many reverse proxies in front of the app may set X-Forwarded-For (0: use the socket).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
    WTF_CSRF_TIME_LIMIT = 3600
    # A staff session (a row of staff_sessions, ended on the server by signing out, a new
    # password or deactivation) lasts a working day at most, and ends after SESSION_IDLE_MINUTES
    # without a request from the person (a dashboard refreshing itself does not count).
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    # The cookie is written only when the session changes. Re-sent with every response, it let a
    # response begun before a change (the stylesheet of a page left before it loaded, when the
    # language was switched) put the old session back; both limits are kept on the server anyway.
    SESSION_REFRESH_EACH_REQUEST = False
    # Sign-in attempts per LOGIN_WINDOW_MINUTES (a sliding window): for one name from one
    # address, and from one address whatever the names (successful ones are not counted, so an
    # office behind one address signs everybody in). No account is ever locked: a lock anybody
    # can trigger would let anybody keep `admin` out (services/accounts.py).
    LOGIN_ATTEMPTS_PER_NAME = 5
    LOGIN_ATTEMPTS_PER_ADDRESS = 30
    LOGIN_WINDOW_MINUTES = 15

    # The online annual form keeps answers across pages in a draft; a draft untouched this long
    # is discarded (the household starts again; `flask annual prune-drafts` deletes old ones).
    ANNUAL_DRAFT_IDLE_MINUTES = int(os.environ.get("ANNUAL_DRAFT_IDLE_MINUTES", "60"))

    # QR forms (posters and dossier receipts): the URLs printed use PUBLIC_BASE_URL (above).
    # How long a dossier's rating link works after it is issued.
    DOSSIER_TOKEN_DAYS = 30
    # A poster can be scanned by anyone: submissions per browser (a signed random id in the
    # session cookie), per address, and per address at one poster's unit and counter, in any
    # QR_LIMIT_WINDOW_MINUTES (a sliding window). Citizens of many counters may share one mobile
    # carrier address (CGNAT), so the address limit is generous; one counter serves a few dozen
    # citizens an hour, so one address rating it more often than QR_LIMIT_PER_ADDRESS_AT_A_PLACE
    # is a person dropping cookies to rate again, not a queue of citizens.
    QR_LIMIT_PER_BROWSER = 10
    QR_LIMIT_PER_ADDRESS = 200
    QR_LIMIT_PER_ADDRESS_AT_A_PLACE = 20
    QR_LIMIT_WINDOW_MINUTES = 60
    # One rating per visit: a poster form's id is kept in the browser's session this long, so the
    # page reached with the back button after sending, or the form sent again, stores nothing more
    # (a visit to a counter, waiting included, is within an hour; a rating later is a new visit).
    QR_VISIT_MINUTES = 60


class DevelopmentConfig(Config):
    """`make run`: a local SQLite file, a random key of this instance's own, plain-HTTP cookies.

    PUBLIC_BASE_URL comes from the environment as in production: `make run` sets it from its
    HOST and PORT; unset, pages use the request's host."""

    ENV_NAME = "development"
    # Without SECRET_KEY in the environment, the app signs with a random key made once and kept
    # in this file (instance_secret_key): a development server others can reach needs a key
    # nobody can read in the repository, and the same one on every start, so that sessions and
    # enrolled kiosks outlive a restart.
    SECRET_KEY_FILE = str(INSTANCE_DIR / "secret_key")
    SESSION_COOKIE_SECURE = False


class TestingConfig(Config):
    """Tests pass their own database URL; CSRF is checked in the tests that test it."""

    ENV_NAME = "testing"
    TESTING = True
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    SECRET_KEY = "testing-not-secret"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = False
    # Tests settle through the readers, or start the settler themselves.
    SETTLE_INTERVAL_SECONDS = 0


CONFIGS = {"production": Config, "development": DevelopmentConfig, "testing": TestingConfig}


def config_from_environment() -> type[Config]:
    """Pick the config class named by SURVEY_ENV (default: production)."""
    name = os.environ.get("SURVEY_ENV", "production")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(
            f"SURVEY_ENV={name!r} is not one of {', '.join(sorted(CONFIGS))}"
        ) from None


# Random bytes in a key made by instance_secret_key; a kept key shorter than this is refused.
SECRET_KEY_BYTES = 32


def instance_secret_key(path: Path) -> str:
    """The secret key kept in `path`, made first if there is none: SECRET_KEY_BYTES random bytes
    in hex, in a file only its owner can read (mode 0600). A key appears whole or not at all,
    and the first one made wins, however many processes start at once. RuntimeError if the
    file holds fewer characters than a made key.

    Development only (DevelopmentConfig.SECRET_KEY_FILE; create_app calls it when SECRET_KEY is
    unset). The key is made on first use rather than by a Makefile step because every
    documented `SURVEY_ENV=development flask --app wsgi …` command has to work on a fresh clone
    and sign with the key the server uses, whichever runs first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(SECRET_KEY_BYTES) + "\n")
            # Fails if another process made the key first: then that one is the key.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key) < 2 * SECRET_KEY_BYTES:
        raise RuntimeError(f"{path} holds no usable secret key: delete it, and a new one is made")
    return key
