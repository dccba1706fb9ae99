"""Builders shared by the fast paths: INSERT statements and values prepared as the ORM would, a
reader of raw rows into model instances, all worked out once per process."""

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateField, Field


def db():
    return connections[DEFAULT_DB_ALIAS]


@functools.cache
def insert_parts(model, vendor: str) -> tuple[str, str, tuple]:
    """(columns, placeholders, fields) to INSERT a model's row with raw SQL; typed on PostgreSQL."""
    connection = db()
    fields = tuple(f for f in model._meta.concrete_fields if not f.db_returning)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(f"%s::{f.cast_db_type(connection)}" if vendor == "postgresql" else "%s" for f in fields)
    return columns, marks, fields


@functools.cache
def insert_statement(model, vendor: str) -> tuple[str, tuple]:
    columns, marks, fields = insert_parts(model, vendor)
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})", fields  # noqa: S608


def insert_values(obj, fields, connection) -> list:
    """The row's values, prepared for the database as the ORM's save would. A field still at its
    (constant) default takes the value prepared once per process: most of a new job's fields are."""
    defaults = _prepared_defaults(type(obj), connection.vendor)
    values = []
    for f in fields:
        prepared = defaults.get(f.attname)
        if prepared is not None:
            value = getattr(obj, f.attname)
            if type(value) is type(prepared[0]) and value == prepared[0]:
                values.append(prepared[1])
                continue
        values.append(f.get_db_prep_save(f.pre_save(obj, True), connection))
    return values


@functools.cache
def _prepared_defaults(model, vendor: str) -> dict:
    """attname -> (default, prepared default) for the fields whose default is a constant and whose
    value is taken as it is (no auto_now-like pre_save)."""
    connection = db()
    out = {}
    for f in model._meta.concrete_fields:
        constant = not callable(f.default) if f.has_default() else f.null  # None, when nullable
        plain_save = type(f).pre_save is Field.pre_save or (
            isinstance(f, DateField) and not f.auto_now and not f.auto_now_add)
        if not (constant and plain_save):
            continue
        default = f.get_default()
        out[f.attname] = (default, f.get_db_prep_save(default, connection))
    return out


@functools.cache
def row_reader(model, field_names: tuple[str, ...], vendor: str):
    """A function turning a raw row of these fields (in this order) into a model instance, with
    the same conversions the ORM applies, worked out once per process: Model.objects.raw()
    re-derives column order and converters on every call, which a worker pays for every job."""
    connection = db()
    order = [f.name for f in model._meta.concrete_fields if f.name in field_names]
    if list(field_names) != order:  # Model.from_db takes a partial row in field order
        raise ValueError(f"fields must be in {model.__name__}'s field order: {order}")
    steps = []
    for name in field_names:
        field = model._meta.get_field(name)
        col = field.get_col(model._meta.db_table)
        converters = [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]
        steps.append((col, tuple(converters)))
    attnames = tuple(model._meta.get_field(name).attname for name in field_names)

    def read(row):
        values = []
        for value, (col, converters) in zip(row, steps, strict=True):
            for convert in converters:
                value = convert(value, col, connection)
            values.append(value)
        return model.from_db(connection.alias, attnames, values)

    return read


def insert_rows(objs) -> None:
    """Insert these new rows (of one model) with the prebuilt statement: bulk_create compiles per call."""
    if not objs:
        return
    connection = db()
    statement, fields = insert_statement(type(objs[0]), connection.vendor)
    with connection.cursor() as cursor:
        for obj in objs:
            cursor.execute(statement, insert_values(obj, fields, connection))
