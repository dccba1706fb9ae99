"""GrowthMiddleware: the funnel's capture on every request, after authentication.

- active: a request by a signed-in user (a session page, or an API call whose key DRF or the
  intake fast path authenticated) marks them active for the day (once a day: see
  intelligence.services.growth.growth_active_mark). A request that never looked at its session
  user (static files, health checks) does not load it for us.
- visit: a page view (a GET answered 200 with HTML, outside /admin/) by a visitor who consented to
  analytics is their visit of the day; their first touch is remembered in a first-party cookie.
  Without that consent nothing is stored and a first-touch cookie left from before is removed.
- signup: the request is bound for the signup receiver, which reads the visitor's first touch
  when this request creates a user (signing in by email link).

The marks are analytics written after the view answered: a mark that fails (the database locked or
gone for a moment) is logged and the answer stands, since the request did its work (a 500 for a
committed POST would invite a retry that does it twice). The failed mark is forgotten by the
process and the cache, so a later request of the day tries again."""

import logging

from django.conf import settings
from django.utils.functional import SimpleLazyObject, empty

from accounts.models import User
from intelligence.growth_attribution import ATTRIBUTION_COOKIE, first_touch_cookie_value, touch_from_request
from intelligence.services.growth import (
    growth_active_mark,
    growth_request_bind,
    growth_request_unbind,
    growth_visit_record,
)

logger = logging.getLogger(__name__)


def _page_view(request, response) -> bool:
    return (request.method == "GET" and response.status_code == 200 and not response.streaming
            and response.get("Content-Type", "").startswith("text/html") and not request.path.startswith("/admin/"))


def _signed_in_user(request, *, page_view: bool) -> User | None:
    user = getattr(request, "user", None)
    if user is None:
        return None
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        if not page_view:
            return None  # nobody looked at the session's user: not worth a query here
        user._setup()
        user = user._wrapped
    return user if isinstance(user, User) and user.is_authenticated else None


class GrowthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = growth_request_bind(request)
        try:
            response = self.get_response(request)
        finally:
            growth_request_unbind(token)
        page_view = _page_view(request, response)
        user = _signed_in_user(request, page_view=page_view)
        if user is not None:
            try:
                growth_active_mark(user_id=user.pk)
            except Exception:
                logger.warning("growth: the active mark of user %s failed; a later request retries", user.pk,
                               exc_info=True)
        if page_view:
            self._visit(request, response, user)
        return response

    def _visit(self, request, response, user) -> None:
        touch = touch_from_request(request)
        if touch is None:
            if ATTRIBUTION_COOKIE in request.COOKIES:
                response.delete_cookie(ATTRIBUTION_COOKIE, samesite="Lax")
            return
        try:
            growth_visit_record(touch=touch, user=user)
        except Exception:
            logger.warning("growth: a visit could not be recorded; a later page view retries", exc_info=True)
        if touch.remember:
            response.set_cookie(ATTRIBUTION_COOKIE, first_touch_cookie_value(touch.first),
                                max_age=settings.GROWTH_FIRST_TOUCH_MAX_AGE, samesite="Lax",
                                secure=request.is_secure(), httponly=True)
