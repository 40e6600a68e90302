"""`flask --app wsgi kiosk …`: create, list and revoke tablet kiosks (thin fronts over
services/kiosks.py, one commit each). Registered by cli.register."""

import click
from flask import current_app
from sqlalchemy import true

from survey_app.errors import DomainError, NotFound
from survey_app.extensions import db
from survey_app.models import Kiosk
from survey_app.services.audit import record_event
from survey_app.services.kiosks import (
    KIOSK_QUESTIONNAIRES,
    create_kiosk,
    kiosk_status,
    list_kiosks,
    revoke_kiosk,
)
from survey_app.services.units import find_counter, find_unit_by_code


def _fail(error: Exception) -> None:
    from survey_app.cli import _fail as fail

    fail(error)


@click.group("kiosk")
def kiosk_group() -> None:
    """Tablet kiosks at the counters."""


@kiosk_group.command("create")
@click.option("--unit", "unit_code", required=True, help="The unit's code.")
@click.option("--counter", "counter_code", required=True, help="The counter's code in the unit.")
@click.option(
    "--questionnaire",
    type=click.Choice(KIOSK_QUESTIONNAIRES),
    default="quick-rating",
    show_default=True,
)
@click.option("--name", required=True, help="A name staff recognise, e.g. 'Máy tính bảng quầy 1'.")
@click.option(
    "--base-url",
    default=None,
    help="The service's address as tablets reach it (default: PUBLIC_BASE_URL).",
)
def create_command(unit_code, counter_code, questionnaire, name, base_url) -> None:
    """Create a kiosk and print its one-time enrolment URL (valid KIOSK_ENROLMENT_HOURS)."""
    try:
        unit = find_unit_by_code(unit_code)
        if unit is None:
            raise NotFound(f"no unit has the code {unit_code!r}")
        counter = find_counter(unit, counter_code)
        if counter is None:
            raise NotFound(f"unit {unit.code!r} has no counter {counter_code!r}")
        kiosk, token = create_kiosk(
            counter=counter,
            questionnaire_key=questionnaire,
            name=name,
            created_by=None,
            enrolment_hours=current_app.config["KIOSK_ENROLMENT_HOURS"],
        )
    except DomainError as error:
        _fail(error)
    record_event(
        "kiosk.create",
        actor="cli",
        unit_id=kiosk.unit_id,
        details={
            "kiosk_id": kiosk.id,
            "counter_id": kiosk.counter_id,
            "questionnaire": questionnaire,
        },
    )
    base = base_url or current_app.config["PUBLIC_BASE_URL"]
    if not base:
        db.session.rollback()
        raise click.ClickException(
            "nothing was created: give --base-url (the address tablets reach, e.g. "
            "https://khaosat.example.gov.vn) or set PUBLIC_BASE_URL"
        )
    db.session.commit()
    base = base.rstrip("/")
    click.echo(f"kiosk {kiosk.id} created for {unit.code}/{counter.code} ({questionnaire})")
    click.echo(f"enrolment URL (one use, {current_app.config['KIOSK_ENROLMENT_HOURS']} h):")
    click.echo(f"{base}/kiosk/enrol/{token}")


@kiosk_group.command("list")
def list_command() -> None:
    """Every kiosk: status, last seen, app version, queued submissions, last submission."""
    kiosks = list_kiosks(true())
    if not kiosks:
        click.echo("no kiosks")
        return
    click.echo(
        "id\tstatus\tunit/counter\tquestionnaire\tlast_seen\tapp_version\tqueued\tlast_submission\tname"
    )
    for k in kiosks:
        click.echo(
            "\t".join(
                str(v)
                for v in (
                    k.id,
                    kiosk_status(k),
                    f"{k.unit.code}/{k.counter.code}",
                    k.questionnaire_key,
                    k.last_seen_at.isoformat(timespec="seconds") if k.last_seen_at else "-",
                    k.app_version or "-",
                    k.queued_submissions,
                    k.last_submission_at.isoformat(timespec="seconds")
                    if k.last_submission_at
                    else "-",
                    k.name,
                )
            )
        )


@kiosk_group.command("revoke")
@click.argument("kiosk_id", type=int)
def revoke_command(kiosk_id: int) -> None:
    """Revoke a kiosk: its submissions are refused from now on."""
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        _fail(NotFound(f"no kiosk {kiosk_id}"))
    revoke_kiosk(kiosk)
    record_event("kiosk.revoke", actor="cli", unit_id=kiosk.unit_id, details={"kiosk_id": kiosk.id})
    db.session.commit()
    click.echo(f"kiosk {kiosk.id} ({kiosk.name}) revoked")
