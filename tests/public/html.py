"""Small readers of the rendered public HTML, so tests can assert exact values."""

import re

TAG = re.compile(r"<[^>]+>")
SPACE = re.compile(r"\s+")
ENTRY = re.compile(
    r'<div class="update[^"]*">\s*<strong class="update-label">(?P<label>.*?)</strong>\s*(?:- )?'
    r'<div class="update-body markdown">(?P<body>.*?)</div>.*?'
    r'<small class="update-time">(?P<time>.*?)</small>',
    re.DOTALL,
)


def text(html: str) -> str:
    return SPACE.sub(" ", TAG.sub("", html)).strip()


def timeline(html: str) -> list[tuple[str, str, str]]:
    """(label, body HTML, time text) of each update block, in page order."""
    return [(m["label"], m["body"], text(m["time"])) for m in ENTRY.finditer(html)]


def banner(html: str) -> str:
    return re.search(r'<span class="status-description">(.*?)</span>', html)[1]


def one(pattern: str, html: str) -> str:
    return re.search(pattern, html, re.DOTALL)[1]
