"""The policy checks of a listing's fields, every problem at once: validation_failed with
details.errors [{field, message}] sorted by field. Used by listing_create and listing_update."""

import math
import re
from decimal import Decimal, DecimalException
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, SchemaError

from levqor.errors import AppError, ErrorCode
from levqor.money import STRIPE_CURRENCIES, currency_exponent, major_to_minor, minor_display
from levqor.validation import json_object_field_clean, json_size, text_field_clean
from levqor.webhooks.endpoints import webhook_url_reachable_check, webhook_url_shape_check
from marketplace.models import Listing
from partners.paths import path_forbidden
from partners.services.policy import policy_current, policy_listing_price_check

NAME_MAX = 200
DESCRIPTION_MAX = 5000
METADATA_MAX_BYTES = 16 * 1024  # as JSON: a partner's notes, not a document store
SCHEMA_MAX_BYTES = 64 * 1024
# How deep an input schema may nest, counting every JSON object and array (32 levels of schema:
# an object's "properties" and the property's schema are two). Deeper ones made check_schema
# recurse past Python's limit (a 500); no real payload needs more.
SCHEMA_MAX_DEPTH = 64
META_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef")
# Keywords whose values are data, not schemas: a "$ref" in an enum value is just a string.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
CURRENCY_DEFAULT = "usd"
# The fields a partner sets (price may come as major units `price` or as `amount_minor`).
LISTING_FIELDS = ("name", "category", "price", "amount_minor", "currency", "description", "metadata",
                  "input_schema", "endpoint")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def _error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def listing_invalid(errors: list[dict], message: str = "The listing did not pass validation.") -> AppError:
    return AppError(ErrorCode.VALIDATION_FAILED, message,
                    details={"errors": sorted(errors, key=lambda e: (e["field"], e["message"]))})


def _name(value, errors):
    return text_field_clean(value, errors, field="name", max_length=NAME_MAX, required_message="A name is required.")


def _category(value, errors):
    if not isinstance(value, str) or value not in Listing.Category.values:
        errors.append(_error("category", f"One of {', '.join(Listing.Category.values)}."))
        return None
    return value


def _description(value, errors):
    return text_field_clean(value, errors, field="description", max_length=DESCRIPTION_MAX, required=False)


def _metadata(value, errors):
    return json_object_field_clean(value, errors, field="metadata", max_bytes=METADATA_MAX_BYTES)


def _json_depth(value, limit: int) -> int:
    """How deep `value` nests (objects and arrays), counted without recursion; stops past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _schema_outside_references(schema) -> list[str]:
    """Where `schema` points outside itself: a $ref / $dynamicRef that is not a local "#..." pointer,
    an $id (a new base URI), a $schema other than 2020-12's. Nothing is ever fetched (the workflow's
    validator has an empty registry), so such a schema could only fail at intake: refused here."""
    found, stack = [], [(schema, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((child, f"{where}/{index}") for index, child in enumerate(item))
            continue
        if not isinstance(item, dict):
            continue
        for keyword in _REFERENCE_KEYWORDS:
            ref = item.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                found.append(f"{where or '/'}: {keyword} must be a local reference (\"#/$defs/...\"), not {ref[:100]!r}")
        if isinstance(item.get("$id"), str):
            found.append(f"{where or '/'}: $id is not accepted (the schema cannot name or load other documents)")
        meta = item.get("$schema")
        if isinstance(meta, str) and meta.rstrip("#") != META_SCHEMA_2020_12:
            found.append(f"{where or '/'}: $schema must be {META_SCHEMA_2020_12}, not {meta[:100]!r}")
        for key, child in item.items():
            if key not in _DATA_KEYWORDS:
                stack.append((child, f"{where}/{key}"))
    return sorted(found)


def _input_schema(value, errors):
    if not isinstance(value, dict):
        errors.append(_error("input_schema", "A JSON Schema (an object) describing a run's payload."))
        return None
    size = json_size(value)
    if size is None or size > SCHEMA_MAX_BYTES:
        errors.append(_error("input_schema", f"A JSON object of at most {SCHEMA_MAX_BYTES // 1024} KiB."))
        return None
    if _json_depth(value, SCHEMA_MAX_DEPTH) > SCHEMA_MAX_DEPTH:
        errors.append(_error("input_schema", f"Nested at most {SCHEMA_MAX_DEPTH} levels deep (objects and arrays)."))
        return None
    outside = _schema_outside_references(value)
    if outside:
        errors.append(_error("input_schema", "The schema may only refer inside itself: " + "; ".join(outside[:5])))
        return None
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        errors.append(_error("input_schema", f"Not a valid JSON Schema (2020-12){f' at {where}' if where else ''}: "
                                             f"{exc.message[:300]}"))
        return None
    if value.get("type") != "object":
        errors.append(_error("input_schema", 'A run\'s payload is a JSON object: the schema needs "type": "object".'))
        return None
    return value


def _currency(value, errors):
    if value is None:
        return CURRENCY_DEFAULT
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        errors.append(_error("currency", "A 3-letter ISO 4217 code, e.g. usd."))
        return None
    code = value.strip().lower()
    if code not in STRIPE_CURRENCIES:
        errors.append(_error("currency", f"{code.upper()} is not a currency Stripe charges cards in (e.g. usd, eur)."))
        return None
    return code


def _price(price, amount_minor, currency, errors, *, required: bool):
    """Minor units from `price` (major units: "9.99", 9.99, 10) or `amount_minor` (an integer), in
    the policy's range. None (and an error) when it is not."""
    if price is not None and amount_minor is not None:
        errors.append(_error("price", "Give price or amount_minor, not both."))
        return None
    if price is None and amount_minor is None:
        if required:
            errors.append(_error("price", "A price is required (0 for a free listing)."))
        return None
    field = "price" if price is not None else "amount_minor"
    exponent = currency_exponent(currency or CURRENCY_DEFAULT)
    if field == "amount_minor":
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
            errors.append(_error(field, "An integer number of minor units (e.g. 999 for 9.99)."))
            return None
        minor = amount_minor
    else:
        message = f"A number of {(currency or CURRENCY_DEFAULT).upper()} with at most {exponent} decimal places."
        if isinstance(price, bool) or not isinstance(price, int | float | str | Decimal) or (
                isinstance(price, float) and not math.isfinite(price)):
            errors.append(_error(field, message))
            return None
        try:
            minor = major_to_minor(Decimal(str(price).strip()), currency or CURRENCY_DEFAULT)
        except (ValueError, DecimalException):  # not a number, too many decimals, too large
            errors.append(_error(field, message))
            return None
    if minor < 0:
        errors.append(_error(field, "A price cannot be negative."))
        return None
    try:
        policy_listing_price_check(amount_minor=minor)
    except AppError as exc:
        low, high = exc.details["min_minor"], exc.details["max_minor"]
        unit = currency or CURRENCY_DEFAULT
        errors.append(_error(field, f"From {minor_display(low, unit)} to {minor_display(high, unit)} "
                                    f"(governance policy v{exc.details['policy_version']})."))
        return None
    return minor


def _endpoint(value, errors):
    if not isinstance(value, str) or not value.strip():
        errors.append(_error("endpoint", "An https URL Levqor calls to run the module is required."))
        return None
    try:
        url = webhook_url_shape_check(value, field="endpoint")
    except AppError as exc:
        errors.append(_error("endpoint", exc.message.replace("webhook URL", "endpoint")))
        return None
    # https: webhook_url_shape_check applies the policy's https_required (in production, WEBHOOK_HTTPS_ONLY).
    policy = policy_current()
    entry = path_forbidden(urlsplit(url).path or "/", policy.forbidden_paths)
    if entry:
        errors.append(_error("endpoint", f"The governance policy (v{policy.version}) forbids endpoint paths under "
                                         f"{entry}."))
        return None
    return url


def listing_fields_clean(fields: dict, *, current: Listing | None = None) -> dict:
    """Every given field checked against the policy (all problems at once); a create (current
    None) needs name, category, price, input_schema and endpoint. The price comes back as
    amount_minor; the endpoint's host must be public (checked last, once all else passed)."""
    errors, clean = [], {}
    creating = current is None
    required = ("name", "category", "input_schema", "endpoint")
    for name in required:
        if creating or name in fields:
            clean[name] = {"name": _name, "category": _category, "input_schema": _input_schema,
                           "endpoint": _endpoint}[name](fields.get(name), errors)
    for name, cleaner in (("description", _description), ("metadata", _metadata)):
        if creating or name in fields:
            clean[name] = cleaner(fields.get(name), errors)
    if creating or "currency" in fields:
        clean["currency"] = _currency(fields.get("currency"), errors)
    currency = clean.get("currency") or (current.currency if current is not None else CURRENCY_DEFAULT)
    if creating or "price" in fields or "amount_minor" in fields or "currency" in fields:
        price, minor = fields.get("price"), fields.get("amount_minor")
        if not creating and price is None and minor is None:
            minor = current.amount_minor  # a currency change alone: the amount checked in the new currency
        clean["amount_minor"] = _price(price, minor, currency, errors, required=creating)
    clean.pop("price", None)
    if errors:
        raise listing_invalid(errors)
    if clean.get("endpoint"):
        try:
            webhook_url_reachable_check(clean["endpoint"], field="endpoint")
        except AppError as exc:
            raise listing_invalid([_error("endpoint", exc.message.replace("webhook URL", "endpoint"))]) from exc
    return clean
