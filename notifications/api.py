"""Management API v1 endpoints of this app."""

routes: list = []
