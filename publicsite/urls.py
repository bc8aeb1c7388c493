"""Public URLs of a page. The page comes from the host or `?page=`, never from the path."""

from django.urls import path, re_path

from incidents import feeds, public_api, views
from notifications import public_api as subscriber_api
from notifications import views as subscription_views
from statuspage.public_api import not_found

# `.json` is how Statuspage names v2 endpoints; the bare path is accepted too.
api_v2 = [
    ("summary", public_api.summary),
    ("status", public_api.status),
    ("components", public_api.components),
    ("incidents", public_api.incidents),
    ("incidents/unresolved", public_api.incidents_unresolved),
    ("scheduled-maintenances", public_api.scheduled_maintenances),
    ("scheduled-maintenances/upcoming", public_api.scheduled_maintenances_upcoming),
    ("scheduled-maintenances/active", public_api.scheduled_maintenances_active),
]

urlpatterns = [
    path("history.atom", feeds.HistoryAtomFeed(), name="public-history-atom"),
    path("history.rss", feeds.HistoryRssFeed(), name="public-history-rss"),
    path("", views.index, name="public-index"),
    path("history", views.history, name="public-history"),
    path("theme.css", views.theme_css, name="public-theme"),
    path("incidents/<str:incident_id>", views.incident_detail, name="public-incident"),
    *(re_path(rf"^api/v2/{name}(?:\.json)?$", view, name=f"v2-{name.replace('/', '-')}") for name, view in api_v2),
    # Subscriptions: the legacy v2 subscriber API and the links of subscription emails (notifications app).
    re_path(r"^api/v2/subscribers(?:\.json)?$", subscriber_api.subscribers, name="v2-subscribers"),
    re_path(
        r"^api/v2/subscribers/(?P<subscriber_id>[0-9a-z]+)(?:\.json)?$",
        subscriber_api.subscriber_detail,
        name="v2-subscriber",
    ),
    re_path(
        r"^api/v2/subscribers/(?P<subscriber_id>[0-9a-z]+)/resend_confirmation(?:\.json)?$",
        subscriber_api.resend_confirmation,
        name="v2-subscriber-resend-confirmation",
    ),
    path("subscriptions/new", subscription_views.subscribe, name="subscription-new"),
    path("subscriptions/confirm/<str:token>", subscription_views.confirm, name="subscription-confirm"),
    path("subscriptions/manage/<str:token>", subscription_views.manage, name="subscription-manage"),
    path("subscriptions/unsubscribe/<str:token>", subscription_views.unsubscribe, name="subscription-unsubscribe"),
    re_path(r"^api/v2/.*$", not_found),
]
