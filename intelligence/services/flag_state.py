"""Reading every flag and switch with its state, for operators (GET /api/v1/flags)."""

from django.db.models import Count
from waffle import get_waffle_flag_model, get_waffle_switch_model


def _flag_conditions(flag, user_count: int, groups: list[str]) -> list[str]:
    """What turns a flag on for some, when it is not decided for everyone."""
    conditions = []
    if flag.percent:
        conditions.append(f"{flag.percent}% of visitors")
    if user_count:
        conditions.append(f"{user_count} user(s)")
    if groups:
        conditions.append("groups " + ", ".join(groups))
    for field, words in (("superusers", "superusers"), ("staff", "staff"), ("authenticated", "everyone signed in")):
        if getattr(flag, field):
            conditions.append(words)
    if flag.languages.strip():
        conditions.append(f"languages {flag.languages.strip()}")
    if flag.testing:
        conditions.append("testing overrides")
    return conditions


def flag_states() -> list[dict]:
    """Each flag: name, note, state ("on" for everyone, "off", or "some" when conditions turn it
    on for some), a summary in words and the conditions themselves. Two queries."""
    flags = (get_waffle_flag_model().objects.annotate(user_count=Count("users", distinct=True))
             .prefetch_related("groups").order_by("name"))
    out = []
    for flag in flags:
        groups = sorted(group.name for group in flag.groups.all())
        conditions = _flag_conditions(flag, flag.user_count, groups)
        if flag.everyone is not None:
            state, summary = ("on", "on for everyone") if flag.everyone else ("off", "off for everyone")
        elif conditions:
            state, summary = "some", "on for " + "; ".join(conditions)
        else:
            state, summary = "off", "off (on for nobody)"
        out.append({
            "name": flag.name, "note": flag.note, "state": state, "summary": summary,
            "everyone": flag.everyone, "percent": str(flag.percent) if flag.percent is not None else None,
            "users": flag.user_count, "groups": groups, "superusers": flag.superusers, "staff": flag.staff,
            "authenticated": flag.authenticated,
            "languages": [lang.strip() for lang in flag.languages.split(",") if lang.strip()],
            "testing": flag.testing, "rollout": flag.rollout, "modified": flag.modified,
        })
    return out


def switch_states() -> list[dict]:
    """Each switch: name, note, state ("on"/"off"), active. One query."""
    return [{"name": switch.name, "note": switch.note, "state": "on" if switch.active else "off",
             "active": bool(switch.active), "modified": switch.modified}
            for switch in get_waffle_switch_model().objects.order_by("name")]
