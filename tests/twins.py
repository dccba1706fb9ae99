"""Running a fast path and its plain-ORM twin on the same starting rows, to compare what each
answered and left behind (tests/*/test_fastsql_*.py)."""

from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from levqor.errors import AppError

# One instant for both runs, so every timestamp either writes is comparable.
FROZEN_NOW = datetime(2025, 11, 20, 12, 30, 15, 123456, tzinfo=UTC)


def freeze_now(monkeypatch) -> datetime:
    """Django's clock stopped at FROZEN_NOW for the rest of the test."""
    monkeypatch.setattr(timezone, "now", lambda: FROZEN_NOW)
    return FROZEN_NOW


class _Undo(Exception):
    pass


def run_and_undo(run, snapshot):
    """(what run() answered, snapshot() of the rows it left), then every write of it rolled back
    (a savepoint), so the twin starts from the same rows. An AppError raised is an answer too:
    ("error", code, details)."""
    out = {}
    try:
        with transaction.atomic():
            try:
                out["answer"] = run()
            except AppError as exc:
                out["answer"] = ("error", exc.code, exc.details)
            out["rows"] = snapshot()
            raise _Undo
    except _Undo:
        pass
    return out["answer"], out["rows"]


def rows(model, *, exclude=(), order_by=("pk",)) -> list[dict]:
    """Every row of model as {column attname: value}, without the excluded (e.g. a sequence's ids)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude and f.name not in exclude]
    return list(model.objects.order_by(*order_by).values(*names))
