"""What the core announces (Django signals), for layers above it to act on without being imported by it."""

from django.dispatch import Signal

# Something shown on a page changed and the change is committed (sent after commit, never for a rolled-back
# write). Keyword arguments: `page_id` (str) and `updated_at` (datetime, the page's new `updated_at`, which
# only grows), for whatever caches the page's public output to hang its version on.
# Sent by `statuspage.services.page_changed`, which every service calls once, as its last write.
page_changed = Signal()
