"""Management API v1 routes, each with an optional `.json` suffix; unknown paths answer JSON 404."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from components import api as components_api
from incidents import api as incidents_api
from notifications import api as notifications_api
from statuspage import page_api
from statuspage.api import not_found, v1_route

urlpatterns = [
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="v1-openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="v1-openapi"), name="v1-docs"),
    v1_route("pages", page_api.PageList.as_view(), "v1-pages"),
    v1_route("pages/<page_id>", page_api.PageDetail.as_view(), "v1-page"),
    v1_route("pages/<page_id>/components", components_api.ComponentList.as_view(), "v1-components"),
    v1_route("pages/<page_id>/components/<component_id>", components_api.ComponentDetail.as_view(), "v1-component"),
    v1_route(
        "pages/<page_id>/components/<component_id>/uptime",
        components_api.ComponentUptime.as_view(),
        "v1-component-uptime",
    ),
    v1_route("pages/<page_id>/component-groups", components_api.ComponentGroupList.as_view(), "v1-groups"),
    v1_route("pages/<page_id>/component-groups/<group_id>", components_api.ComponentGroupDetail.as_view(), "v1-group"),
    v1_route(
        "pages/<page_id>/component-groups/<group_id>/uptime",
        components_api.ComponentGroupUptime.as_view(),
        "v1-group-uptime",
    ),
    *incidents_api.routes,
    *notifications_api.routes,
    re_path(r"^.*$", not_found),
]
