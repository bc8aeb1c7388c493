"""What the core announces (Django signals), for layers above it to act on without being imported by it."""

from django.dispatch import Signal

# Something shown on a page changed and the change is committed (sent after commit, never for a rolled-back
# write). Keyword arguments: `page_id` (str) and `updated_at` (datetime, the page's new `updated_at`, which
# only grows), for whatever caches the page's public output to hang its version on.
# Sent by `statuspage.services.page_changed`, which every service calls once, as its last write.
page_changed = Signal()

# The same news for other processes and machines, from the database itself: on PostgreSQL, `page_changed`
# also sends NOTIFY on this channel inside the transaction (so it is delivered at commit, and never for a
# rolled-back write), with the page's id as payload. Whatever keeps a copy of a page's output in memory can
# LISTEN to it (publicsite.snapshots) rather than poll. Others may notify here too when something they derive
# from a page is ready (publicsite.prerender, when a page's snapshots are rebuilt).
PAGES_CHANNEL = "statuspage_pages"
