"""The durable copy of an owner's monthly API calls (ApiUsage), in one statement per write. Their
plain-ORM twins live in tests/accounts/test_fastsql_usage.py."""

from datetime import date

from django.db import connection
from django.db.models import F
from django.db.models.functions import Greatest

from accounts.models import ApiUsage


def usage_row_add_one(*, owner_id, month: date) -> int:
    """One call more in the month's row (created at 1), in one statement. Returns the new count."""
    table = connection.ops.quote_name(ApiUsage._meta.db_table)
    params = [ApiUsage._meta.get_field("owner").get_db_prep_value(owner_id, connection),
              ApiUsage._meta.get_field("month").get_db_prep_value(month, connection)]
    # The table name comes from our model; every value is a parameter.
    sql = (f"INSERT INTO {table} (owner_id, month, calls) VALUES (%s, %s, 1) "  # noqa: S608
           f"ON CONFLICT (owner_id, month) DO UPDATE SET calls = {table}.calls + 1 RETURNING calls")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def usage_row_persist(*, owner_id, month: date, calls: int) -> None:
    """Write the month's count back to its row (if there is one), in one UPDATE. GREATEST: a slower
    process must not write back an older, lower count."""
    ApiUsage.objects.filter(owner_id=owner_id, month=month).update(calls=Greatest(F("calls"), calls))
