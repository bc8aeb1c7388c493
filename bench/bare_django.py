"""bench/public's reference: a minimal Django project, one view returning the same bytes from memory.

`CommonMiddleware` only, no database, no templates: what Django itself costs per request. The bytes (and their
content type) of each path are read at start from BARE_DJANGO_BODIES, a JSON file
`{path: [content_type, file]}` that bench/public writes from our own responses.

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

BODIES: dict[str, tuple[str, bytes]] = {
    path: (content_type, Path(file).read_bytes())
    for path, (content_type, file) in json.loads(Path(os.environ["BARE_DJANGO_BODIES"]).read_text()).items()
}


def view(request: HttpRequest) -> HttpResponse:
    content_type, body = BODIES[request.path]
    return HttpResponse(body, content_type=content_type)


urlpatterns = [re_path(r"", view)]

application = get_wsgi_application()
