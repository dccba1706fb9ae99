"""
WSGI config for levqor project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'levqor.settings')

django_application = get_wsgi_application()

from levqor.middleware import ChunkedBodyReader  # noqa: E402  (imports DRF: after Django is set up)

# Chunked request bodies (no Content-Length) are read before Django sees them; see ChunkedBodyReader.
application = ChunkedBodyReader(django_application)
