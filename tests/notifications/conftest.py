import pytest


@pytest.fixture(autouse=True)
def _page_urls(settings):
    # Links in emails are absolute: pin the host they are built from.
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_URL_SCHEME = "https"
    settings.DEFAULT_FROM_EMAIL = "status@example.net"
