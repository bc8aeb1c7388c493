from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", include("statuspage.api_urls")),
    path("", include("incidents.urls")),
]

handler400 = "statuspage.views.bad_request"
handler500 = "statuspage.views.server_error"
