"""Notification channels, one module each, behind `base.Transport.send(batch)`: email, webhook, Slack, Teams."""
