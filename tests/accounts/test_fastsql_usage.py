"""accounts.fastsql.usage against its plain-ORM twins: the quota count's durable row ends the same
and the same count is answered, on SQLite and on PostgreSQL."""

from datetime import date

import pytest
from django.db import transaction
from django.db.models import F

from accounts.fastsql.usage import usage_row_add_one, usage_row_persist
from accounts.models import ApiUsage
from tests.factories import UserFactory
from tests.twins import rows, run_and_undo

pytestmark = pytest.mark.django_db

MONTH = date(2025, 11, 1)


def _add_one_orm(*, owner_id, month) -> int:
    with transaction.atomic():
        row, created = ApiUsage.objects.select_for_update().get_or_create(owner_id=owner_id, month=month,
                                                                           defaults={"calls": 1})
        if not created:
            ApiUsage.objects.filter(pk=row.pk).update(calls=F("calls") + 1)
            row.refresh_from_db()
        return row.calls


def _persist_orm(*, owner_id, month, calls) -> None:
    row = ApiUsage.objects.filter(owner_id=owner_id, month=month).first()
    if row is not None and row.calls < calls:
        row.calls = calls
        row.save(update_fields=["calls"])


def _snapshot():
    return rows(ApiUsage, exclude=("id",), order_by=("owner_id", "month"))


@pytest.fixture
def owners():
    """An owner, and another whose rows (and this owner's other month) must not move."""
    owner, other = UserFactory(), UserFactory()
    ApiUsage.objects.create(owner=other, month=MONTH, calls=7)
    ApiUsage.objects.create(owner=owner, month=date(2025, 10, 1), calls=99)
    return owner, other


@pytest.mark.parametrize("existing", [None, 0, 41], ids=["first-call-of-the-month", "row-at-zero", "row-at-41"])
def test_one_more_call_is_counted_as_the_orm_counts_it(owners, existing):
    owner, _ = owners
    if existing is not None:
        ApiUsage.objects.create(owner=owner, month=MONTH, calls=existing)
    fast = run_and_undo(lambda: usage_row_add_one(owner_id=owner.pk, month=MONTH), _snapshot)
    orm = run_and_undo(lambda: _add_one_orm(owner_id=owner.pk, month=MONTH), _snapshot)
    assert fast == orm
    assert fast[0] == (existing or 0) + 1


@pytest.mark.parametrize(("existing", "written"), [(10, 7), (10, 10), (10, 12), (None, 5)],
                         ids=["lower-is-ignored", "equal", "higher-wins", "no-row-creates-none"])
def test_a_count_is_written_back_as_the_orm_writes_it(owners, existing, written):
    owner, _ = owners
    if existing is not None:
        ApiUsage.objects.create(owner=owner, month=MONTH, calls=existing)
    fast = run_and_undo(lambda: usage_row_persist(owner_id=owner.pk, month=MONTH, calls=written), _snapshot)
    orm = run_and_undo(lambda: _persist_orm(owner_id=owner.pk, month=MONTH, calls=written), _snapshot)
    assert fast == orm
    mine = [r["calls"] for r in fast[1] if r["owner_id"] == owner.pk and r["month"] == MONTH]
    assert mine == ([] if existing is None else [max(existing, written)])
