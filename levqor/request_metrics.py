"""Every request measured into the "http.request" series (levqor.metrics): its route, method, status
class and duration; 5xx answers count as errors. The outermost middleware, so the duration covers
every other middleware and the early answers (429, 413) are measured too, as is the intake fast
path (a plain Django view)."""

import time

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.urls import Resolver404, resolve

from levqor.metrics import HTTP_REQUEST, metric_observe

# Label values for requests no URL pattern matches, and for our static files (answered by whitenoise
# before any URL is resolved): one label each, whatever the path, so scanners cannot grow the series.
UNMATCHED = "(unmatched)"
STATIC = "(static)"
# Methods keep their name; anything else is one label.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def request_route(request) -> str:
    """The route of the URL pattern that serves the request ("/api/v1/jobs/<uuid:job_id>"), resolved
    here when an answer came before Django resolved it (a 429 of the rate limit, say)."""
    match = request.resolver_match
    if match is None:
        path = request.path_info
        static = "/" + settings.STATIC_URL.lstrip("/")
        if path.startswith(static):
            return STATIC
        try:
            match = resolve(path)
        except Resolver404:
            return UNMATCHED
        except Exception:  # a path the resolver chokes on is no route either
            return UNMATCHED
    return "/" + match.route


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        if not settings.METRICS_ENABLED:
            raise MiddlewareNotUsed  # off: not even in the chain
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        method = request.method if request.method in METHODS else OTHER_METHOD
        metric_observe(HTTP_REQUEST, {"route": request_route(request), "method": method,
                                      "status_class": f"{status // 100}xx"}, ms, error=status >= 500)
        return response
