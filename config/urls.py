from django.contrib import admin
from django.urls import include, path

from notifications import bounces
from statuspage.admin import view_on_site_redirect

urlpatterns = [
    # Ahead of the admin's own `admin:view_on_site`, which it replaces (same path, so `reverse` finds either).
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site_redirect)),
    path("admin/", admin.site.urls),
    path("v1/", include("config.api_urls")),
    # Bounce and complaint webhooks of the email providers (for the whole installation, not per page).
    path("hooks/email/ses/<str:token>", bounces.ses_webhook, name="bounces_ses"),
    path("hooks/email/postmark", bounces.postmark_webhook, name="bounces_postmark"),
    path("", include("publicsite.urls")),
]

handler400 = "statuspage.views.bad_request"
handler500 = "statuspage.views.server_error"
