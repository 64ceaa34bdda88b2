"""URL routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from tasks_app.dashboard import dashboard_view
from tasks_app.metrics import metrics_view

handler404 = "tasks_app.api_errors.not_found"

urlpatterns = [
    path(
        "admin/casework/dashboard/",
        admin.site.admin_view(dashboard_view),
        name="casework-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("tasks/", include("tasks_app.page_urls")),
    path("", RedirectView.as_view(pattern_name="pages:task-list", permanent=False)),
    path("api/v1/", include("tasks_app.urls")),
    path("api/v1/documents/", include("documents.urls")),
    path("documents/", include("documents.urls_legacy")),
    path("api/v1/", include("litigation.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api-auth/", include("rest_framework.urls")),
]
