"""Public URLs of a page. The page comes from the host or `?page=`, never from the path."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="public-index"),
    path("history", views.history, name="public-history"),
    path("incidents/<str:incident_id>", views.incident_detail, name="public-incident"),
]
