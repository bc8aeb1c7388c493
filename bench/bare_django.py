"""bench/public's reference: a minimal Django project, one view returning the same bytes from memory.

`CommonMiddleware` only, no database, no templates: what Django itself costs per request. The bytes (and their
content type) of each path are read at start from BARE_DJANGO_BODIES, a JSON file
`{path: [content_type, file, gzip_file_or_null]}` that bench/public writes from our own responses: a client that
accepts gzip gets the gzipped bytes ours sends it, as any Django site behind a precompressing layer would.

    gunicorn bench.bare_django:application
"""

import json
import os
from pathlib import Path

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-bare-django",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings)
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import re_path  # noqa: E402

BODIES: dict[str, tuple[str, bytes, bytes | None]] = {
    path: (content_type, Path(file).read_bytes(), Path(gzip_file).read_bytes() if gzip_file else None)
    for path, (content_type, file, gzip_file) in json.loads(Path(os.environ["BARE_DJANGO_BODIES"]).read_text()).items()
}


def view(request: HttpRequest) -> HttpResponse:
    content_type, body, gzipped = BODIES[request.path]
    if gzipped is None:
        return HttpResponse(body, content_type=content_type)
    if "gzip" in request.META.get("HTTP_ACCEPT_ENCODING", ""):
        response = HttpResponse(gzipped, content_type=content_type)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(body, content_type=content_type)
    response["Vary"] = "Accept-Encoding"
    return response


urlpatterns = [re_path(r"", view)]

application = get_wsgi_application()
