"""Markdown for update bodies and postmortems: CommonMark (plus tables and strikethrough), then sanitised.

Staff may write raw HTML in bodies, as on Statuspage, so the rendered HTML goes through nh3 (ammonia):
only a small set of tags and attributes survives, links keep http/https/mailto targets only, and every
link gets `rel="noopener noreferrer nofollow"`.
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li",
    "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    """Safe HTML for a Markdown text. Pure and cached: the public page renders the same bodies on every hit."""
    if not text:
        return ""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    ).strip()
