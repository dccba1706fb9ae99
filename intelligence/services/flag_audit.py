"""The audit of feature flags, switches and samples (waffle's models): every change becomes one
FlagChange row with who, when, the whole state before and after, and why.

Changes are collected by model signals, so every way of changing a flag is kept: the admin, our
services, waffle's own commands, a shell. Inside `flag_change_context(actor=, reason=, source=)`
(the admin, stabilize mode) the changes of one operation, a flag's fields and its users and
groups, become one row each with that actor and reason, and a reason is required. Outside one,
each save is recorded on its own with source "direct" and no reason (waffle's commands cannot be
made to ask for one), so nothing goes unrecorded.

After each row is written, `flag_changed` is sent (sender FlagChange, change=the row), inside the
transaction of the change: stabilize mode listens for its switch there."""

import contextlib
import contextvars

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import Signal
from django.utils import timezone
from waffle import get_waffle_flag_model, get_waffle_sample_model, get_waffle_switch_model

from intelligence.models import FlagChange
from levqor.errors import AppError, ErrorCode

flag_changed = Signal()  # kwargs: change (a FlagChange, just written)

DIRECT = "direct"
_FLAG_FIELDS = ("everyone", "percent", "testing", "superusers", "staff", "authenticated", "languages", "rollout",
                "note")


def _kinds() -> dict:
    return {get_waffle_flag_model(): FlagChange.Kind.FLAG, get_waffle_switch_model(): FlagChange.Kind.SWITCH,
            get_waffle_sample_model(): FlagChange.Kind.SAMPLE}


def flag_snapshot(obj) -> dict:
    """A flag's, switch's or sample's whole state as JSON (users as ids, groups by name); not
    its created/modified times, which every save moves."""
    model = type(obj)
    if model is get_waffle_switch_model():
        return {"name": obj.name, "active": bool(obj.active), "note": obj.note}
    if model is get_waffle_sample_model():
        return {"name": obj.name, "percent": str(obj.percent), "note": obj.note}
    state = {"name": obj.name}
    for field in _FLAG_FIELDS:
        value = getattr(obj, field)
        state[field] = str(value) if field == "percent" and value is not None else value
    state["users"] = sorted(str(pk) for pk in obj.users.values_list("pk", flat=True))
    state["groups"] = sorted(obj.groups.values_list("name", flat=True))
    return state


def _snapshot_from_db(model, pk) -> dict | None:
    obj = model.objects.filter(pk=pk).first()
    return None if obj is None else flag_snapshot(obj)


class FlagChangeBatch:
    """The flags touched by one operation: their state before, compared with their state after
    on flush(), each that differs written as one FlagChange."""

    def __init__(self, *, actor=None, actor_label: str = "", reason: str | None, source: str, required_reason=True):
        self.actor, self.actor_label, self.reason, self.source = actor, actor_label, reason, source
        self.required_reason = required_reason
        self.before: dict[tuple, dict | None] = {}
        self.changes: list[FlagChange] = []

    def touch(self, model, pk, *, created: bool = False) -> None:
        key = (model, pk)
        if key not in self.before:
            self.before[key] = None if created else _snapshot_from_db(model, pk)

    def flush(self) -> list[FlagChange]:
        """Write one FlagChange per touched object whose state changed; refused (AppError
        validation_failed) when a reason is required and none was given."""
        pending, self.before = self.before, {}
        kinds, now, written = _kinds(), timezone.now(), []
        for (model, pk), old in pending.items():
            new = _snapshot_from_db(model, pk)
            if new == old:
                continue
            if self.required_reason and not (self.reason or "").strip():
                raise AppError(ErrorCode.VALIDATION_FAILED, "A reason is required to change a flag or switch.",
                               details={"errors": [{"field": "reason", "message": "A reason is required."}]})
            actor = self.actor if getattr(self.actor, "pk", None) is not None else None
            change = FlagChange.objects.create(
                at=now, kind=kinds[model], name=(new or old)["name"], old=old, new=new, actor=actor,
                actor_label="" if actor is not None else self.actor_label, source=self.source,
                reason=(self.reason or "").strip())
            written.append(change)
            flag_changed.send(sender=FlagChange, change=change)
        self.changes += written
        return written


_current: contextvars.ContextVar[FlagChangeBatch | None] = contextvars.ContextVar("flag_change_batch", default=None)


@contextlib.contextmanager
def flag_change_context(*, actor=None, actor_label: str = "", reason: str | None, source: str):
    """Changes of flags, switches and samples made inside are recorded with this actor, source and
    reason, one row per object, when the block ends (inside its transaction: use it within
    transaction.atomic so a refused change is undone). The reason may be filled in later on the
    yielded batch (batch.reason: the admin reads it from its form), but must be there by the end;
    batch.flush() may be called earlier to record inside a transaction that ends first."""
    batch = FlagChangeBatch(actor=actor, actor_label=actor_label, reason=reason, source=source)
    token = _current.set(batch)
    try:
        yield batch
        batch.flush()
    finally:
        _current.reset(token)


# --- the signals: every save, delete and users/groups change of waffle's models ---------------

_PENDING = "_flag_audit_batch"


def _batch_for(instance) -> tuple[FlagChangeBatch, bool]:
    """(the batch to record in, whether it is this one change's own: to flush at its post_ signal)."""
    batch = _current.get()
    if batch is not None:
        return batch, False
    own = instance.__dict__.get(_PENDING)
    if own is None:
        own = instance.__dict__[_PENDING] = FlagChangeBatch(reason="", source=DIRECT, required_reason=False)
    return own, True


def _flush_own(instance) -> None:
    own = instance.__dict__.pop(_PENDING, None)
    if own is not None:
        with transaction.atomic():
            own.flush()


def _on_pre_save(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None or instance._state.adding:
        return  # a new row: recorded at post_save as a creation
    _batch_for(instance)[0].touch(sender, instance.pk)


def _on_post_save(sender, instance, created=False, raw=False, **kwargs):
    if raw:
        return
    batch, own = _batch_for(instance)
    batch.touch(sender, instance.pk, created=created)
    if own:
        _flush_own(instance)


def _on_pre_delete(sender, instance, **kwargs):
    _batch_for(instance)[0].touch(sender, instance.pk)


def _on_post_delete(sender, instance, **kwargs):
    if _current.get() is None:
        _flush_own(instance)


def _m2m_flag_pks(instance, reverse: bool, pk_set) -> list:
    if not reverse:
        return [instance.pk]
    if pk_set is not None:
        return list(pk_set)
    # A user's or group's flags cleared: which flags, before they go.
    related = "users" if not isinstance(instance, Group) else "groups"
    return list(get_waffle_flag_model().objects.filter(**{related: instance}).values_list("pk", flat=True))


def _on_m2m_changed(sender, instance, action, reverse, pk_set, **kwargs):
    flag_model = get_waffle_flag_model()
    if action.startswith("pre_"):
        pks = _m2m_flag_pks(instance, reverse, pk_set)
        batch, _own = _batch_for(instance)
        for pk in pks:
            batch.touch(flag_model, pk)
    elif action.startswith("post_") and _current.get() is None:
        _flush_own(instance)


def flag_audit_connect() -> None:
    """Listen to waffle's models (IntelligenceConfig.ready)."""
    flag_model = get_waffle_flag_model()
    for model in _kinds():
        uid = f"flag-audit-{model._meta.label_lower}"
        pre_save.connect(_on_pre_save, sender=model, dispatch_uid=f"{uid}-pre-save")
        post_save.connect(_on_post_save, sender=model, dispatch_uid=f"{uid}-post-save")
        pre_delete.connect(_on_pre_delete, sender=model, dispatch_uid=f"{uid}-pre-delete")
        post_delete.connect(_on_post_delete, sender=model, dispatch_uid=f"{uid}-post-delete")
    for through in (flag_model.users.through, flag_model.groups.through):
        m2m_changed.connect(_on_m2m_changed, sender=through, dispatch_uid=f"flag-audit-m2m-{through._meta.label_lower}")
