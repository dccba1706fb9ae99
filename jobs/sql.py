"""SQL the hot paths build once per process instead of asking the ORM to compile per call."""

import functools

from django.db import DEFAULT_DB_ALIAS, connections


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
    """The row's values, prepared for the database as the ORM's save would."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
