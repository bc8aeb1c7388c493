from django.contrib import admin
from django.urls import include, path

from statuspage.admin import view_on_site_redirect

urlpatterns = [
    # Ahead of the admin's own `admin:view_on_site`, which it replaces (same path, so `reverse` finds either).
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site_redirect)),
    path("admin/", admin.site.urls),
    path("v1/", include("config.api_urls")),
    path("", include("publicsite.urls")),
]

handler400 = "statuspage.views.bad_request"
handler500 = "statuspage.views.server_error"
