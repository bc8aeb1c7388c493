import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from publicsite.snapshots import SnapshotMiddleware  # noqa: E402  (after Django is set up)

# Public pages are answered from the process's snapshots, in front of Django (see publicsite.snapshots).
application = SnapshotMiddleware(django_application)
