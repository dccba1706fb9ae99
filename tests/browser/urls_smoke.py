"""The project's URLs plus two tiny pages that check the browser setup itself: one that keeps the
page CSP (a nonce'd script and style, the site stylesheet) and one that breaks it."""

from django.http import HttpResponse
from django.template import engines
from django.urls import path

from levqor.urls import urlpatterns as project_urlpatterns

_GOOD = engines["django"].from_string("""{% extends "base.html" %}
{% block title %}Smoke{% endblock %}
{% block extra_head %}<style nonce="{{ request.csp_nonce }}">#ran { letter-spacing: 3px; }</style>{% endblock %}
{% block content %}<h1>Smoke</h1><p id="ran">script did not run</p>{% endblock %}
{% block scripts %}<script nonce="{{ request.csp_nonce }}">
document.getElementById("ran").textContent = "script ran";
console.log("smoke page script ran");
</script>{% endblock %}""")

_BAD = engines["django"].from_string("""{% extends "base.html" %}
{% block content %}<h1>Broken</h1><p id="ran">script did not run</p>{% endblock %}
{% block scripts %}<script>document.getElementById("ran").textContent = "script ran";</script>{% endblock %}""")


def good(request):
    return HttpResponse(_GOOD.render(request=request))


def bad(request):
    return HttpResponse(_BAD.render(request=request))


urlpatterns = [
    path("__smoke__/good", good),
    path("__smoke__/bad", bad),
    *project_urlpatterns,
]
