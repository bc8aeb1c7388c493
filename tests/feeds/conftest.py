import feedparser
import pytest


@pytest.fixture
def fetch(client):
    """GET a feed and parse it as sent: no sanitising or URL rewriting by feedparser, so tests see our HTML."""

    def get(path: str, **extra):
        response = client.get(path, **extra)
        assert response.status_code == 200, response.content
        parsed = feedparser.parse(response.content, sanitize_html=False, resolve_relative_uris=False)
        assert not parsed.bozo, parsed.get("bozo_exception")
        return response, parsed

    return get
