"""Administration: units, counters, targets, questionnaires (managers within their subtrees);
staff accounts, API keys and the audit log (administrators).

Every id in a URL or a form field is resolved through the account's scope, so another unit's id
is a 404. Every change is a CSRF-protected POST that calls a service, writes an audit event,
commits once, and redirects (post/redirect/get).
"""

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from questionnaires import DefinitionError, parse_definition_yaml
from survey_app.errors import NotFound, QuestionnaireVersionConflict, ValidationError
from survey_app.extensions import db
from survey_app.models import CHANNEL_DEFAULT_QUESTIONNAIRES, StaffAccount, Unit
from survey_app.services import admin_support
from survey_app.services.access import (
    get_counter_in_scope,
    get_unit_in_scope,
    list_units_in_scope,
)
from survey_app.services.accounts import (
    add_scope,
    count_administrators,
    create_account,
    get_account,
    list_accounts,
    remove_scope,
    set_account_active,
    set_password,
)
from survey_app.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from survey_app.services.audit import list_audit_events
from survey_app.services.questionnaires import list_questionnaires, store_definition
from survey_app.services.targets import create_target
from survey_app.services.units import (
    create_counter,
    create_unit,
    import_counters_csv,
    import_units_csv,
    merge_unit,
    questionnaire_key_for,
    set_channel_questionnaire,
    set_unit_active,
    update_counter,
    update_unit,
)
from survey_app.web.admin_forms import (
    CHANNEL_LABELS,
    COMPARISON_LABELS,
    METRIC_SUGGESTIONS,
    PERIOD_LABELS,
    PURPOSE_LABELS,
    ROLE_LABELS,
    UNIT_KIND_LABELS,
    AccountCreateForm,
    AccountEditForm,
    ApiKeyForm,
    AuditFilterForm,
    ChannelsForm,
    ConfirmForm,
    CounterCreateForm,
    CounterEditForm,
    ImportForm,
    MergeForm,
    PasswordForm,
    QuestionnaireUploadForm,
    ScopeForm,
    TargetForm,
    UnitCreateForm,
    UnitForm,
    options,
    threshold_share,
)
from survey_app.web.auth import admin_required, audit, current_access, manager_required
from survey_app.web.helpers import apply_problems, current_locale_code, local_time
from survey_app.web.uploads import accepts_upload

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")

CHANNELS = tuple(CHANNEL_DEFAULT_QUESTIONNAIRES)
AUDIT_PAGE_SIZE = 50
INDENT = "\u2003"  # an em space per level in unit selects


@bp.context_processor
def _labels():
    return {
        "kind_labels": UNIT_KIND_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "role_labels": ROLE_LABELS,
        "purpose_labels": PURPOSE_LABELS,
        "period_labels": PERIOD_LABELS,
        "comparison_labels": COMPARISON_LABELS,
        "local_time": local_time,
    }


# --- helpers ------------------------------------------------------------------------------------


def _require_button() -> None:
    """A one-button POST (activate, delete, revoke): only the CSRF token to check."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _unit_from_field(value: str | None, *, manage: bool = True) -> Unit:
    """A unit id posted in a form field, resolved through the scope: a forged id is a 404."""
    if not value or not value.isdigit():
        raise NotFound(f"no unit {value!r} here")
    return get_unit_in_scope(current_access(), int(value), manage=manage)


def _unit_choices(units: list[Unit]) -> list:
    """Options for a unit select, indented by depth below the shallowest unit given."""
    if not units:
        return []
    base = min(u.path.count("/") for u in units)
    locale = current_locale_code()
    return options(
        (str(u.id), f"{INDENT * (u.path.count('/') - base)}{u.name(locale)} ({u.code})")
        for u in units
    )


def _managed_units(*, active_only: bool = False) -> list[Unit]:
    units = list_units_in_scope(current_access(), manage=True)
    if active_only:
        units = [u for u in units if u.active and u.merged_into_id is None]
    return units


def _questionnaire_keys() -> list[str]:
    return sorted({q.key for q in list_questionnaires()})


# --- units ----------------------------------------------------------------------------------------


@bp.get("/units")
@manager_required
def units():
    """The unit tree the account manages, with counters and state."""
    rows = _managed_units()
    base = min((u.path.count("/") for u in rows), default=0)
    counts = admin_support.count_counters_by_unit([u.id for u in rows])
    tree = [(u, u.path.count("/") - base, counts.get(u.id, (0, 0))) for u in rows]
    return render_template(
        "admin/units.html", tree=tree, is_administrator=current_access().is_administrator
    )


def _channels_form(unit: Unit, *, formdata=None) -> tuple[ChannelsForm, list[dict]]:
    own = admin_support.own_channel_questionnaires(unit)
    kwargs = {"formdata": formdata} if formdata is not None else {"formdata": None, **own}
    form = ChannelsForm(**kwargs)
    keys = _questionnaire_keys()
    rows = []
    for channel in CHANNELS:
        inherited = (
            questionnaire_key_for(unit.parent, channel)
            if unit.parent is not None
            else CHANNEL_DEFAULT_QUESTIONNAIRES[channel]
        )
        form[channel].choices = options(
            [("", _("Inherit: %(key)s", key=inherited)), *((k, k) for k in keys)]
        )
        if formdata is None and channel not in own:
            form[channel].data = ""
        rows.append(
            {
                "field": form[channel],
                "effective": questionnaire_key_for(unit, channel),
                "own": own.get(channel),
            }
        )
    return form, rows


def _merge_form(unit: Unit, *, formdata=None) -> MergeForm:
    form = MergeForm(formdata=formdata)
    targets = [u for u in _managed_units(active_only=True) if not u.path.startswith(unit.path)]
    form.into.choices = _unit_choices(targets)
    return form


def _render_unit_detail(unit: Unit, status: int = 200, **forms):
    edit = forms.get("edit") or UnitForm(formdata=None, obj=unit)
    counter_form = forms.get("counter") or CounterCreateForm(formdata=None, prefix="counter")
    if "channels" in forms:
        channels_form, channel_rows = forms["channels"]
    else:
        channels_form, channel_rows = _channels_form(unit)
    merge = forms.get("merge") or _merge_form(unit)
    access = current_access()
    parent = unit.parent if unit.parent and access.covers(unit.parent, manage=True) else None
    children = [c for c in unit.children if access.covers(c, manage=True)]
    return (
        render_template(
            "admin/unit_detail.html",
            unit=unit,
            parent=parent,
            children=sorted(children, key=lambda c: c.code),
            counters=admin_support.list_counters(unit),
            edit_form=edit,
            counter_form=counter_form,
            channels_form=channels_form,
            channel_rows=channel_rows,
            merge_form=merge,
            button=ConfirmForm(formdata=None),
        ),
        status,
    )


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@manager_required
def unit_detail(unit_id: int):
    """One unit: names and [ĐPV] place names, counters, channel questionnaires, merge, state."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    if request.method == "GET":
        return _render_unit_detail(unit)
    form = UnitForm()
    if not form.validate_on_submit():
        return _render_unit_detail(unit, 422, edit=form)
    try:
        update_unit(
            unit,
            name_vi=form.name_vi.data,
            name_en=form.name_en.data,
            place_name_vi=form.place_name_vi.data,
            place_name_en=form.place_name_en.data,
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_unit_detail(unit, 422, edit=form)
    audit(
        "unit.update",
        unit_id=unit.id,
        code=unit.code,
        name_vi=unit.name_vi,
        place_name_vi=unit.place_name_vi,
    )
    db.session.commit()
    flash(_("The unit %(code)s was saved.", code=unit.code), "info")
    return redirect(url_for(".unit_detail", unit_id=unit.id))


@bp.route("/units/new", methods=["GET", "POST"])
@manager_required
def unit_new():
    """Create a unit below one the account manages (administrators may create a root)."""
    access = current_access()
    form = UnitCreateForm()
    choices = _unit_choices(_managed_units(active_only=True))
    if access.is_administrator:
        choices = [*options([("", _("None: a new top-level unit"))]), *choices]
    form.parent.choices = choices
    if request.method == "GET" and request.args.get("parent"):
        form.parent.data = request.args["parent"]
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/unit_new.html", form=form), status
    if form.parent.data:
        parent = _unit_from_field(form.parent.data)
    elif access.is_administrator:
        parent = None
    else:
        form.parent.errors = [_("Choose the unit the new one belongs to.")]
        return render_template("admin/unit_new.html", form=form), 422
    try:
        unit = create_unit(
            form.code.data,
            form.name_vi.data,
            kind=form.kind.data,
            name_en=form.name_en.data,
            parent=parent,
            place_name_vi=form.place_name_vi.data or None,
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return render_template("admin/unit_new.html", form=form), 422
    audit(
        "unit.create",
        unit_id=unit.id,
        code=unit.code,
        parent=parent.code if parent else None,
        kind=unit.kind,
    )
    db.session.commit()
    flash(_("The unit %(code)s was created.", code=unit.code), "info")
    return redirect(url_for(".unit_detail", unit_id=unit.id))


@bp.post("/units/<int:unit_id>/deactivate")
@manager_required
def unit_deactivate(unit_id: int):
    """Stop a unit taking responses; its history stays."""
    return _set_unit_active(unit_id, False)


@bp.post("/units/<int:unit_id>/activate")
@manager_required
def unit_activate(unit_id: int):
    """Let an inactive unit take responses again."""
    return _set_unit_active(unit_id, True)


def _set_unit_active(unit_id: int, active: bool):
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    _require_button()
    if active and unit.merged_into_id is not None:
        raise ValidationError(
            {"unit": [_("A unit merged into another cannot take responses again.")]}
        )
    set_unit_active(unit, active)
    audit("unit.activate" if active else "unit.deactivate", unit_id=unit.id, code=unit.code)
    db.session.commit()
    if active:
        flash(_("The unit %(code)s takes responses again.", code=unit.code), "info")
    else:
        flash(_("The unit %(code)s no longer takes responses.", code=unit.code), "info")
    return redirect(url_for(".unit_detail", unit_id=unit.id))


@bp.post("/units/<int:unit_id>/merge")
@manager_required
def unit_merge(unit_id: int):
    """Merge a unit into another the account manages: first confirm, then merge."""
    source = get_unit_in_scope(current_access(), unit_id, manage=True)
    form = _merge_form(source, formdata=request.form)
    if not form.validate_on_submit():
        return _render_unit_detail(source, 422, merge=form)
    target = _unit_from_field(form.into.data)
    if form.confirm.data != "yes":
        form.confirm.data = "yes"
        return render_template("admin/unit_merge.html", unit=source, target=target, form=form)
    try:
        merge_unit(source, target)
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, {"into" if k == "target" else k: v for k, v in error.problems.items()})
        form.confirm.data = ""
        return _render_unit_detail(source, 422, merge=form)
    audit("unit.merge", unit_id=source.id, source=source.code, target=target.code)
    db.session.commit()
    flash(
        _("%(source)s was merged into %(target)s.", source=source.code, target=target.code),
        "info",
    )
    return redirect(url_for(".unit_detail", unit_id=target.id))


@bp.post("/units/<int:unit_id>/counters")
@manager_required
def counter_create(unit_id: int):
    """Add a counter to a unit."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    # Prefixed: the unit's own name fields share the page (and would share the ids).
    form = CounterCreateForm(prefix="counter")
    if not form.validate_on_submit():
        return _render_unit_detail(unit, 422, counter=form)
    try:
        counter = create_counter(unit, form.code.data, form.name_vi.data, form.name_en.data)
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_unit_detail(unit, 422, counter=form)
    audit("counter.create", unit_id=unit.id, counter_id=counter.id, code=counter.code)
    db.session.commit()
    flash(_("The counter %(code)s was created.", code=counter.code), "info")
    return redirect(url_for(".unit_detail", unit_id=unit.id) + "#counters")


@bp.route("/counters/<int:counter_id>", methods=["GET", "POST"])
@manager_required
def counter_edit(counter_id: int):
    """Rename a counter, or stop (restart) it taking responses."""
    counter = get_counter_in_scope(current_access(), counter_id, manage=True)
    form = CounterEditForm(obj=counter)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/counter_edit.html", counter=counter, form=form), status
    try:
        update_counter(
            counter, name_vi=form.name_vi.data, name_en=form.name_en.data, active=form.active.data
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return render_template("admin/counter_edit.html", counter=counter, form=form), 422
    audit(
        "counter.update",
        unit_id=counter.unit_id,
        counter_id=counter.id,
        code=counter.code,
        active=counter.active,
    )
    db.session.commit()
    flash(_("The counter %(code)s was saved.", code=counter.code), "info")
    return redirect(url_for(".unit_detail", unit_id=counter.unit_id) + "#counters")


@bp.post("/units/<int:unit_id>/channels")
@manager_required
def unit_channels(unit_id: int):
    """Choose the questionnaire each channel of the unit uses (or inherit the parent's)."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    form, rows = _channels_form(unit, formdata=request.form)
    if not form.validate_on_submit():
        return _render_unit_detail(unit, 422, channels=(form, rows))
    own = admin_support.own_channel_questionnaires(unit)
    changed = 0
    for channel in CHANNELS:
        chosen = form[channel].data or None
        if chosen != own.get(channel):
            set_channel_questionnaire(unit, channel, chosen)
            audit(
                "channel_questionnaire.set",
                unit_id=unit.id,
                channel=channel,
                questionnaire=chosen,
                previous=own.get(channel),
            )
            changed += 1
    db.session.commit()
    if changed:
        flash(_("The questionnaires of %(code)s were saved.", code=unit.code), "info")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for(".unit_detail", unit_id=unit.id) + "#channels")


@bp.route("/units/import", methods=["GET", "POST"])
@accepts_upload
@admin_required
def units_import():
    """Create or update units or counters from a CSV file (all rows or none)."""
    form = ImportForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/units_import.html", form=form), status
    upload = form.file.data
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        form.file.errors = [_("The file is not UTF-8 text; save it as “CSV UTF-8”.")]
        return render_template("admin/units_import.html", form=form), 422
    importer = import_units_csv if form.what.data == "units" else import_counters_csv
    try:
        summary = importer(text)
    except ValidationError as error:
        db.session.rollback()
        return render_template("admin/units_import.html", form=form, problems=error.problems), 422
    audit(
        "units.import",
        what=form.what.data,
        filename=(upload.filename or "")[:200],
        created=summary.created,
        updated=summary.updated,
    )
    db.session.commit()
    flash(
        _(
            "Imported: %(created)d created, %(updated)d updated.",
            created=summary.created,
            updated=summary.updated,
        ),
        "info",
    )
    return redirect(url_for(".units"))


# --- targets --------------------------------------------------------------------------------------


@bp.get("/targets")
@manager_required
def targets():
    """Targets on the units the account manages (administrators: also province-wide ones)."""
    return render_template(
        "admin/targets.html",
        targets=admin_support.list_targets_in_scope(current_access()),
        button=ConfirmForm(formdata=None),
    )


@bp.route("/targets/new", methods=["GET", "POST"])
@manager_required
def target_new():
    """Add a target from a plan (metric, threshold, scope, period, source document)."""
    access = current_access()
    form = TargetForm()
    choices = _unit_choices(_managed_units())
    if access.is_administrator:
        choices = [*options([("", _("Every unit"))]), *choices]
    form.unit.choices = choices
    form.questionnaire.choices = options(
        [("", _("Any questionnaire")), *((k, k) for k in _questionnaire_keys())]
    )
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return _render_target_form(form, status)
    if form.unit.data:
        unit = _unit_from_field(form.unit.data)
    elif access.is_administrator:
        unit = None
    else:
        form.unit.errors = [_("Choose the unit the target applies to.")]
        return _render_target_form(form, 422)
    try:
        target = create_target(
            metric=form.metric.data,
            threshold=threshold_share(form.threshold.data),
            comparison=form.comparison.data,
            unit=unit,
            questionnaire_key=form.questionnaire.data or None,
            period_kind=form.period_kind.data,
            start_year=form.start_year.data,
            end_year=form.end_year.data,
            source_document=form.source_document.data,
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_target_form(form, 422)
    audit(
        "target.create",
        unit_id=unit.id if unit else None,
        target_id=target.id,
        metric=target.metric,
        threshold=target.threshold,
        comparison=target.comparison,
        period_kind=target.period_kind,
        source_document=target.source_document,
    )
    db.session.commit()
    flash(_("The target was added."), "info")
    return redirect(url_for(".targets"))


def _render_target_form(form: TargetForm, status: int):
    return render_template(
        "admin/target_new.html", form=form, metric_suggestions=METRIC_SUGGESTIONS
    ), status


@bp.post("/targets/<int:target_id>/delete")
@manager_required
def target_delete(target_id: int):
    """Remove a target."""
    target = admin_support.get_target_in_scope(current_access(), target_id)
    _require_button()
    audit(
        "target.delete",
        unit_id=target.unit_id,
        target_id=target.id,
        metric=target.metric,
        threshold=target.threshold,
        source_document=target.source_document,
    )
    admin_support.delete_target(target)
    db.session.commit()
    flash(_("The target was removed."), "info")
    return redirect(url_for(".targets"))


# --- questionnaires -------------------------------------------------------------------------------


def _render_questionnaires(form: QuestionnaireUploadForm | None, status: int = 200, problems=()):
    return render_template(
        "admin/questionnaires.html",
        questionnaires=list_questionnaires(),
        form=form,
        problems=list(problems),
    ), status


@bp.get("/questionnaires")
@manager_required
def questionnaires():
    """Loaded questionnaire versions; administrators may load a new one."""
    form = QuestionnaireUploadForm(formdata=None) if current_user.is_administrator else None
    return _render_questionnaires(form)


@bp.post("/questionnaires")
@accepts_upload
@admin_required
def questionnaire_upload():
    """Load a questionnaire definition (YAML): a new version, or a correction of one without
    responses."""
    form = QuestionnaireUploadForm()
    if not form.validate_on_submit():
        return _render_questionnaires(form, 422)
    upload = form.file.data
    filename = (upload.filename or "upload.yaml")[:200]
    try:
        text = upload.read().decode("utf-8-sig")
        definition = parse_definition_yaml(text, source=filename)
        outcome = store_definition(definition)
    except UnicodeDecodeError:
        return _render_questionnaires(form, 422, [_("The file is not UTF-8 text.")])
    except DefinitionError as error:
        db.session.rollback()
        return _render_questionnaires(form, 422, error.problems)
    except QuestionnaireVersionConflict as error:
        db.session.rollback()
        return _render_questionnaires(form, 422, [str(error)])
    audit(
        "questionnaire.load",
        key=outcome.key,
        version=outcome.version,
        status=outcome.status,
        content_hash=definition.content_hash[:12],
        filename=filename,
    )
    db.session.commit()
    flash(
        _(
            "%(key)s version %(version)d: %(status)s.",
            key=outcome.key,
            version=outcome.version,
            status={
                "added": _("loaded"),
                "unchanged": _("unchanged, already loaded"),
                "updated": _("corrected"),
            }[outcome.status],
        ),
        "info",
    )
    return redirect(url_for(".questionnaires"))


# --- staff accounts -------------------------------------------------------------------------------


@bp.get("/accounts")
@admin_required
def accounts():
    """Every staff account with its scopes."""
    return render_template("admin/accounts.html", accounts=list_accounts())


@bp.route("/accounts/new", methods=["GET", "POST"])
@admin_required
def account_new():
    """Create a staff account."""
    form = AccountCreateForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/account_new.html", form=form), status
    try:
        account = create_account(
            form.username.data,
            form.password.data,
            display_name=form.display_name.data,
            title=form.title.data,
            is_administrator=form.is_administrator.data,
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return render_template("admin/account_new.html", form=form), 422
    audit(
        "account.create",
        account=account.username,
        account_id=account.id,
        is_administrator=account.is_administrator,
    )
    db.session.commit()
    flash(_("The account %(username)s was created.", username=account.username), "info")
    return redirect(url_for(".account_detail", account_id=account.id))


def _scope_form(formdata=None) -> ScopeForm:
    form = ScopeForm(formdata=formdata)
    form.unit.choices = _unit_choices(list_units_in_scope(current_access()))
    return form


def _render_account_detail(account: StaffAccount, status: int = 200, **forms):
    return render_template(
        "admin/account_detail.html",
        account=account,
        scopes=sorted(account.scopes, key=lambda s: s.unit.path),
        edit_form=forms.get("edit") or AccountEditForm(formdata=None, obj=account),
        password_form=forms.get("password") or PasswordForm(formdata=None),
        scope_form=forms.get("scope") or _scope_form(),
        button=forms.get("button") or ConfirmForm(formdata=None),
    ), status


@bp.route("/accounts/<int:account_id>", methods=["GET", "POST"])
@admin_required
def account_detail(account_id: int):
    """One account: name and title, password, active state, scopes."""
    account = get_account(account_id)
    if request.method == "GET":
        return _render_account_detail(account)
    form = AccountEditForm()
    if not form.validate_on_submit():
        return _render_account_detail(account, 422, edit=form)
    try:
        admin_support.update_account_profile(
            account, display_name=form.display_name.data, title=form.title.data
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_account_detail(account, 422, edit=form)
    audit("account.update", account=account.username, account_id=account.id)
    db.session.commit()
    flash(_("The account %(username)s was saved.", username=account.username), "info")
    return redirect(url_for(".account_detail", account_id=account.id))


@bp.post("/accounts/<int:account_id>/password")
@admin_required
def account_password(account_id: int):
    """Set a new password; the account is signed out everywhere (but here, for one's own)."""
    account = get_account(account_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        return _render_account_detail(account, 422, password=form)
    own = account.id == current_user.id
    try:
        set_password(account, form.password.data, keep_session=g.staff_session.id if own else None)
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_account_detail(account, 422, password=form)
    audit("account.password", account=account.username, account_id=account.id)
    db.session.commit()
    flash(_("The password of %(username)s was changed.", username=account.username), "info")
    return redirect(url_for(".account_detail", account_id=account.id))


@bp.post("/accounts/<int:account_id>/deactivate")
@admin_required
def account_deactivate(account_id: int):
    """Stop an account signing in (never the last active administrator)."""
    account = get_account(account_id)
    _require_button()
    if account.is_administrator and account.active and count_administrators() <= 1:
        button = ConfirmForm(formdata=None)
        button.form_errors.append(
            _("This is the last active administrator: give another account the role first.")
        )
        return _render_account_detail(account, 422, button=button)
    set_account_active(account, False)
    audit("account.deactivate", account=account.username, account_id=account.id)
    db.session.commit()
    flash(_("The account %(username)s can no longer sign in.", username=account.username), "info")
    return redirect(url_for(".account_detail", account_id=account.id))


@bp.post("/accounts/<int:account_id>/activate")
@admin_required
def account_activate(account_id: int):
    """Let an account sign in again."""
    account = get_account(account_id)
    _require_button()
    set_account_active(account, True)
    audit("account.activate", account=account.username, account_id=account.id)
    db.session.commit()
    flash(_("The account %(username)s can sign in again.", username=account.username), "info")
    return redirect(url_for(".account_detail", account_id=account.id))


@bp.post("/accounts/<int:account_id>/scopes")
@admin_required
def scope_add(account_id: int):
    """Give an account a role over a unit's subtree."""
    account = get_account(account_id)
    form = _scope_form(formdata=request.form)
    if not form.validate_on_submit():
        return _render_account_detail(account, 422, scope=form)
    unit = _unit_from_field(form.unit.data, manage=False)
    try:
        add_scope(account, unit, form.role.data)
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_account_detail(account, 422, scope=form)
    audit(
        "scope.add",
        unit_id=unit.id,
        account=account.username,
        account_id=account.id,
        role=form.role.data,
    )
    db.session.commit()
    flash(
        _(
            "%(username)s is now %(role)s of %(unit)s.",
            username=account.username,
            role=ROLE_LABELS[form.role.data],
            unit=unit.code,
        ),
        "info",
    )
    return redirect(url_for(".account_detail", account_id=account.id) + "#scopes")


@bp.post("/accounts/<int:account_id>/scopes/<int:scope_id>/remove")
@admin_required
def scope_remove(account_id: int, scope_id: int):
    """Take a scope away from an account."""
    account = get_account(account_id)
    _require_button()
    scope = remove_scope(account, scope_id)
    audit(
        "scope.remove",
        unit_id=scope.unit_id,
        account=account.username,
        account_id=account.id,
        role=scope.role,
    )
    db.session.commit()
    flash(_("The scope was removed."), "info")
    return redirect(url_for(".account_detail", account_id=account.id) + "#scopes")


# --- API keys -------------------------------------------------------------------------------------


def _api_key_form(formdata=None) -> ApiKeyForm:
    form = ApiKeyForm(formdata=formdata)
    form.unit.choices = _unit_choices(list_units_in_scope(current_access()))
    return form


def _render_api_keys(form: ApiKeyForm, status: int = 200):
    return render_template(
        "admin/api_keys.html",
        keys=list_api_keys(),
        form=form,
        button=ConfirmForm(formdata=None),
    ), status


@bp.get("/api-keys")
@admin_required
def api_keys():
    """API keys for machine clients; create one, revoke one."""
    return _render_api_keys(_api_key_form())


@bp.post("/api-keys")
@admin_required
def api_key_create():
    """Create a key and show its secret, once."""
    form = _api_key_form(formdata=request.form)
    if not form.validate_on_submit():
        return _render_api_keys(form, 422)
    unit = _unit_from_field(form.unit.data, manage=False)
    try:
        key, secret = create_api_key(
            form.name.data, form.purpose.data, unit, created_by=current_user
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_api_keys(form, 422)
    audit(
        "api_key.create",
        unit_id=unit.id,
        key_id=key.id,
        name=key.name,
        purpose=key.purpose,
        prefix=key.prefix,
    )
    db.session.commit()
    # Shown on this response only (never stored, so never shown again): not a redirect, and
    # never cached.
    response = make_response(render_template("admin/api_key_created.html", key=key, secret=secret))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api-keys/<int:key_id>/revoke")
@admin_required
def api_key_revoke(key_id: int):
    """Revoke a key: it stops working at once."""
    _require_button()
    key = revoke_api_key(key_id)
    audit("api_key.revoke", unit_id=key.unit_id, key_id=key.id, name=key.name, prefix=key.prefix)
    db.session.commit()
    flash(_("The key %(name)s was revoked.", name=key.name), "info")
    return redirect(url_for(".api_keys"))


# --- audit log ------------------------------------------------------------------------------------


@bp.get("/audit")
@admin_required
def audit_log():
    """Who did what and when, newest first; filter by action and actor, page back."""
    form = AuditFilterForm(formdata=request.args)
    form.validate()
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() else None
    action = form.action.data if not form.action.errors else None
    actor = form.actor.data if not form.actor.errors else None
    events = list_audit_events(
        action=action or None,
        actor=actor or None,
        limit=AUDIT_PAGE_SIZE,
        before_id=before_id,
    )
    units_by_id = admin_support.units_by_id({e.unit_id for e in events if e.unit_id})
    older = None
    if len(events) == AUDIT_PAGE_SIZE:
        older = url_for(
            ".audit_log", action=action or None, actor=actor or None, before=events[-1].id
        )
    return render_template(
        "admin/audit_log.html",
        form=form,
        events=events,
        units_by_id=units_by_id,
        older=older,
        paged=before_id is not None,
    )
