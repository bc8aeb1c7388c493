from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.markdown import render_markdown
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from tests.public.html import timeline

HOSTILE = (
    "Hello <script>alert(1)</script>\n\n"
    "<img src=x onerror=alert(1)>\n\n"
    '[x](javascript:alert(1)) and <a href="javascript:alert(2)" onclick="alert(3)">y</a>\n\n'
    '<iframe src="https://evil.example"></iframe><div style="position:fixed">boxed</div>'
)
SAFE_HOSTILE = (
    "<p>Hello </p>\n"
    '<img src="x">\n'
    '<p>[x](javascript:alert(1)) and <a rel="noopener noreferrer nofollow">y</a></p>\n'
    "boxed"
)


def test_markdown_renders_commonmark_tables_and_strikethrough():
    text = "# Title\n\n**bold** _it_ `code` ~~gone~~\n\n* a\n* b\n\n| h |\n|---|\n| c |\n\n[site](https://example.com)"
    assert render_markdown(text) == (
        "<h1>Title</h1>\n"
        "<p><strong>bold</strong> <em>it</em> <code>code</code> <s>gone</s></p>\n"
        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"
        "<table>\n<thead>\n<tr>\n<th>h</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>c</td>\n</tr>\n</tbody>\n</table>\n"
        '<p><a href="https://example.com" rel="noopener noreferrer nofollow">site</a></p>'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HOSTILE, SAFE_HOSTILE),
        ("<p onmouseover=alert(1)>hi</p>", "<p>hi</p>"),
        ("[m](mailto:ops@example.com) <a href=\"data:text/html,x\">d</a>",
         '<p><a href="mailto:ops@example.com" rel="noopener noreferrer nofollow">m</a> '
         '<a rel="noopener noreferrer nofollow">d</a></p>'),
        ("", ""),
    ],
)  # fmt: skip
def test_markdown_is_sanitised(text, expected):
    assert render_markdown(text) == expected


def test_hostile_markdown_is_neutralised_in_updates_and_postmortems(client, page):
    at = timezone.now() - timedelta(hours=1)
    incident = incident_create(page=page, name="<b>Name</b>", body=HOSTILE, deliver_notifications=False, at=at)
    incident_resolve(incident=incident, body=HOSTILE, deliver_notifications=False, at=at + timedelta(minutes=1))
    postmortem_save_draft(incident=incident, body_draft=HOSTILE)
    postmortem_publish(incident=incident, at=at + timedelta(minutes=2))

    html = client.get(f"/incidents/{incident.pk}").content.decode()

    assert [body for _, body, _ in timeline(html)] == [SAFE_HOSTILE] * 3
    assert '<h1 class="incident-name">&lt;b&gt;Name&lt;/b&gt;</h1>' in html
    lowered = html.lower()
    assert "alert(1)</script>" not in lowered
    assert "onerror" not in lowered
    assert "onclick" not in lowered
    assert 'href="javascript:' not in lowered
    assert "<iframe" not in lowered
    # The only scripts are the page's own.
    assert lowered.count("<script") == 1

    index = client.get("/").content.decode()
    assert [body for _, body, _ in timeline(index)] == [SAFE_HOSTILE] * 2
    index = index.lower()
    assert "onerror" not in index
    assert 'href="javascript:' not in index
    assert index.count("<script") == 1
