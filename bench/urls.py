"""The product's routes plus the bench-only baselines under /bench/ (bench/settings.py)."""

from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

from . import plain

urlpatterns = [
    path("bench/plain/tasks/", plain.PlainTaskCreateApi.as_view()),
    path("bench/plain/tasks/<uuid:pk>/", plain.PlainTaskRetrieveApi.as_view()),
    path("bench/default-paginator/tasks/", plain.DefaultPaginatorTaskListApi.as_view()),
    *product_urlpatterns,
]
