"""`flask --app wsgi …` commands: thin fronts over the services, one commit each."""

from pathlib import Path

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from questionnaires import DEFINITIONS_DIR, DefinitionError
from survey_app.errors import DomainError, ValidationError
from survey_app.extensions import db
from survey_app.models import Response


def _fail(error: Exception) -> None:
    db.session.rollback()
    if isinstance(error, ValidationError):
        lines = [
            f"  {field}: {message}"
            for field, messages in error.problems.items()
            for message in messages
        ]
        raise click.ClickException("nothing was changed:\n" + "\n".join(lines))
    raise click.ClickException(f"nothing was changed: {error}")


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8-sig")


@click.command("load-questionnaires")
@click.option(
    "--directory",
    type=click.Path(exists=True, file_okay=False),
    default=str(DEFINITIONS_DIR),
    show_default=True,
    help="Folder of definition files.",
)
def load_questionnaires_command(directory: str) -> None:
    """Load or update questionnaire definitions (a changed file needs a new version)."""
    from survey_app.services.questionnaires import load_questionnaire_files

    try:
        outcomes = load_questionnaire_files(Path(directory))
    except (DefinitionError, DomainError) as error:
        _fail(error)
    db.session.commit()
    for outcome in outcomes:
        click.echo(f"{outcome.key} version {outcome.version}: {outcome.status}")


@click.command("import-units")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
def import_units_command(csv_file: str) -> None:
    """Create or update units from a CSV file (code, parent_code, name_vi, name_en, kind, …)."""
    from survey_app.services.units import import_units_csv

    try:
        summary = import_units_csv(_read(csv_file))
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"units: {summary.created} created, {summary.updated} updated")


@click.command("import-counters")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
def import_counters_command(csv_file: str) -> None:
    """Create or update counters from a CSV file (unit_code, code, name_vi, name_en)."""
    from survey_app.services.units import import_counters_csv

    try:
        summary = import_counters_csv(_read(csv_file))
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"counters: {summary.created} created, {summary.updated} updated")


@click.command("load-targets")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
def load_targets_command(csv_file: str) -> None:
    """Add targets from a CSV file (metric, threshold, period_kind, source_document, …)."""
    from survey_app.services.targets import import_targets_csv

    try:
        count = import_targets_csv(_read(csv_file))
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"targets: {count} added")


@click.command("seed-demo")
@click.option("--responses", default=20_000, show_default=True, type=click.IntRange(0, 50_000_000))
@click.option("--seed", default=2025, show_default=True, type=int)
def seed_demo_command(responses: int, seed: int) -> None:
    """Create the demo province and a year of realistic responses (bulk insert)."""
    import time

    from survey_app.services.demo import seed_demo

    started = time.perf_counter()
    summary = seed_demo(responses, timezone=current_app.config["LOCAL_TIMEZONE"], seed=seed)
    db.session.commit()
    click.echo(
        f"demo: {summary.units} units, {summary.counters} counters, {summary.responses:,} responses, "
        f"{summary.answers:,} answers in {time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in summary.phases.items())
        + ")"
    )


@click.command("setup")
@click.option(
    "--demo-responses",
    default=20_000,
    show_default=True,
    type=click.IntRange(0, 50_000_000),
    help="Demo responses to create when the database has none.",
)
def setup_command(demo_responses: int) -> None:
    """Migrate the database, load the questionnaires, and add demo data if it is empty."""
    from survey_app.services.demo import seed_demo
    from survey_app.services.questionnaires import load_questionnaire_files

    upgrade()
    for outcome in load_questionnaire_files():
        click.echo(f"{outcome.key} version {outcome.version}: {outcome.status}")
    db.session.commit()
    if demo_responses and not db.session.scalar(select(func.count()).select_from(Response)):
        summary = seed_demo(demo_responses, timezone=current_app.config["LOCAL_TIMEZONE"])
        db.session.commit()
        click.echo(
            f"demo data: {summary.units} units, {summary.counters} counters, "
            f"{summary.responses:,} responses"
        )
    if demo_responses and current_app.config["ENV_NAME"] == "development":
        from survey_app.services.demo import DEMO_ROOT_CODE, ensure_demo_accounts
        from survey_app.services.units import find_unit_by_code

        if find_unit_by_code(DEMO_ROOT_CODE) is not None:
            accounts = ensure_demo_accounts()
            db.session.commit()
            click.echo("\n  Demo staff accounts (new passwords on every `make run`):")
            for username, password, what in accounts:
                click.echo(f"    {username:<14} {password:<14} {what}")


@click.command("settle")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep settling in the foreground, as a server's background settler does: a process of "
    "its own beside web workers run with SETTLE_INTERVAL_SECONDS=0.",
)
def settle_command(follow: bool) -> None:
    """Settle pending responses into answer rows, counts and moments (server processes do this
    in the background; this is for scripts, and for a settler process of its own)."""
    from flask import current_app

    from survey_app.services.rollup import settle_pending
    from survey_app.settler import Settler, settle_batch_size

    if follow:
        Settler(current_app._get_current_object(), interval=0.25).run()
        return
    settled = settle_pending(settle_batch_size(current_app))
    click.echo(f"settled {settled:,} responses")


@click.command("prune")
def prune_command() -> None:
    """Forget rate-limit windows over a day old and staff sessions ended or expired over a day
    ago (every server's settler does this hourly; for a deployment without one)."""
    from survey_app.services.housekeeping import prune

    pruned = prune(current_app.config)
    db.session.commit()
    click.echo(
        f"rate-limit windows removed: {pruned.rate_limit_windows}; "
        f"staff sessions removed: {pruned.staff_sessions}"
    )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve_command(host: str, port: int) -> None:
    """Serve the app as `make run` does: waitress, which reads each request whole before a
    thread runs it, so slow clients cannot hold the threads (survey_app/serving.py)."""
    from survey_app.serving import serve

    serve(current_app._get_current_object(), host=host, port=port)


@click.command("check-counts")
def check_counts_command() -> None:
    """Settle pending responses, then recompute the answer counts and index moments from the raw
    answers and compare them with what was kept (exit 1 on any difference)."""
    from survey_app.services.counts import compare_answer_counts
    from survey_app.services.moments import compare_index_moments
    from survey_app.services.rollup import settle_pending

    settled = settle_pending()
    if settled:
        click.echo(f"settled {settled:,} pending responses first")
    cells, differences = compare_answer_counts()
    for difference in differences:
        click.echo(
            f"differs: {difference.key}: kept {difference.kept}, recomputed {difference.recomputed}"
        )
    moment_cells, moment_differences = compare_index_moments()
    for difference in moment_differences[:20]:
        click.echo(f"differs: moments {difference}")
    if differences or moment_differences:
        raise click.ClickException(
            f"{len(differences)} of {cells:,} count cells and {len(moment_differences)} of "
            f"{moment_cells:,} moment cells differ"
        )
    click.echo(
        f"answer counts agree with the answers ({cells:,} cells); "
        f"index moments agree ({moment_cells:,} cells)"
    )


@click.command("rebuild-counts")
def rebuild_counts_command() -> None:
    """Replace the answer counts and index moments with a recomputation from the raw answers."""
    from survey_app.services.counts import rebuild_answer_counts
    from survey_app.services.moments import rebuild_index_moments

    cells = rebuild_answer_counts()
    moment_cells = rebuild_index_moments()
    db.session.commit()
    click.echo(
        f"answer counts rebuilt ({cells:,} cells); index moments rebuilt ({moment_cells:,} cells)"
    )


@click.command("create-admin")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The person's name, as staff see it.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="ADMIN_PASSWORD",
    help="Prompted for when not given (or set ADMIN_PASSWORD).",
)
def create_admin_command(username: str, display_name: str, password: str) -> None:
    """Create an administrator account (the first one, or another)."""
    from survey_app.services.accounts import create_account
    from survey_app.services.audit import record_event

    try:
        account = create_account(
            username, password, display_name=display_name, is_administrator=True
        )
        record_event(
            "account.create",
            actor="cli",
            details={"username": account.username, "administrator": True},
        )
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"administrator {account.username!r} created")


@click.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, writable=True))
def backup_command(destination: str) -> None:
    """Copy the live SQLite database to DESTINATION (a new file); PostgreSQL: use pg_dump."""
    from survey_app.services.backup import backup_sqlite_database

    try:
        summary = backup_sqlite_database(Path(destination))
    except DomainError as error:
        raise click.ClickException(f"no backup was made: {error}") from None
    click.echo(
        f"backup written to {summary.destination} ({summary.size_bytes:,} bytes): "
        f"{summary.responses:,} responses, {summary.answers:,} answers"
    )


@click.group("annual")
def annual_group() -> None:
    """The annual survey's housekeeping."""


@annual_group.command("prune-drafts")
def prune_drafts_command() -> None:
    """Delete online annual-form drafts idle longer than ANNUAL_DRAFT_IDLE_MINUTES (for cron)."""
    from datetime import timedelta

    from survey_app.services.annual import prune_drafts

    idle = timedelta(minutes=current_app.config["ANNUAL_DRAFT_IDLE_MINUTES"])
    removed = prune_drafts(idle=idle)
    db.session.commit()
    click.echo(f"drafts removed: {removed}")


COMMANDS = [
    create_admin_command,
    load_questionnaires_command,
    import_units_command,
    import_counters_command,
    load_targets_command,
    seed_demo_command,
    setup_command,
    prune_command,
    settle_command,
    serve_command,
    check_counts_command,
    rebuild_counts_command,
    backup_command,
    annual_group,
]


def register(app: Flask) -> None:
    from survey_app.cli_kiosk import kiosk_group

    for command in COMMANDS:
        app.cli.add_command(command)
    app.cli.add_command(kiosk_group)
    from survey_app.cli_sipas import sipas_group

    app.cli.add_command(sipas_group)
