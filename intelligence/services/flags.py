"""Reading feature flags (django-waffle) the same way in web requests and in django-q2 tasks.

In a request, a flag is judged by waffle for that request (everyone / percent / users / groups).
In a task there is no request: a flag is on when it is on for everyone, or for the given user.
Reads come from the shared cache (waffle's), so no query once cached; a change is seen at once
by every process, since saving a flag clears its cache entry."""

from waffle import flag_is_active, get_waffle_flag_model


def flag_active(name: str, *, request=None, user=None) -> bool:
    """Whether the flag `name` is on (for this request, or for this user, or for everyone)."""
    if request is not None:
        return bool(flag_is_active(request, name))
    flag = get_waffle_flag_model().get(name)
    if flag.pk is None:  # unknown flag: off
        return False
    if flag.everyone is not None:
        return bool(flag.everyone)
    return bool(user is not None and flag.is_active_for_user(user))
