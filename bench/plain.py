"""Plain DRF views over the same Task rows: the baselines the API benchmarks compare against.

What a Django project gets from DRF's generic views with no task engine behind them: a
ModelSerializer retrieve of the caller's row, a create that inserts the row and nothing more,
and the task list with DRF's default LimitOffsetPagination (a COUNT(*) on every page).
Same authentication and permissions as the product's API (the project's DRF defaults).
"""

from rest_framework import generics, serializers
from rest_framework.pagination import LimitOffsetPagination

from tasks_app import selectors
from tasks_app.apis.tasks import TaskListCreateApi
from tasks_app.models import Task, TaskStatus


class PlainTaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = "__all__"


class PlainTaskCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "name", "task_type", "params", "priority", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]


class PlainTaskRetrieveApi(generics.RetrieveAPIView):
    serializer_class = PlainTaskSerializer

    def get_queryset(self):
        return Task.objects.filter(owner=self.request.user)


class PlainTaskCreateApi(generics.CreateAPIView):
    serializer_class = PlainTaskCreateSerializer

    def perform_create(self, serializer):
        # Written finished: no relay or sweeper of the server's project ever picks it up (a
        # pending row would be published by a relay process during the baseline's window).
        serializer.save(owner=self.request.user, status=TaskStatus.SUCCEEDED)


class DefaultPaginatorPagination(LimitOffsetPagination):
    """DRF's paginator: a COUNT(*) of every filtered task, then the page. The page is read
    as values (selectors.ListedTask), as the product's list reads it, so the two differ only
    in their paginators."""

    default_limit = 20

    def paginate_queryset(self, queryset, request, view=None):
        # LimitOffsetPagination.paginate_queryset's steps, the page read through listed().
        self.request = request
        self.limit = self.get_limit(request)
        self.count = self.get_count(queryset)
        self.offset = self.get_offset(request)
        if self.count == 0 or self.offset > self.count:
            return []
        return list(selectors.listed(queryset)[self.offset : self.offset + self.limit])


class DefaultPaginatorTaskListApi(TaskListCreateApi):
    """Casework's list (same filters, serializer and query) with DRF's default paginator."""

    pagination_class = DefaultPaginatorPagination
