"""Limit/offset pagination that never counts a whole table.

DRF's paginator runs COUNT(*) over the filtered queryset on every page, however many rows
match. Here the count stops at COUNT_CAP rows (a COUNT over a LIMITed subquery); past it the
response says `count_capped: true` and `count` is the cap. `skip` is accepted for `offset`, as
the users' older clients send it.
"""

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

# The count reads up to COUNT_CAP + 1 matching rows, so its cost grows with the cap, not with
# the table. On 1,000,000 tasks, `status=failed&task_type=add` (~10,000 matches; EXPLAIN
# ANALYZE, median of 7): capped at 10,000 it is a bitmap AND of the status and type indexes
# over ~8,500 heap pages, 85 ms — more than counting every match (75 ms); capped at 1,000 the
# planner stops a scan after the 1,001st match, 20 ms. A page of 20 rows takes 2 ms.
COUNT_CAP = 1_000
# Deeper than this, narrow the filter (created_before) instead: PostgreSQL reads and drops
# every skipped row, and an offset past 2**63 - 1 does not even fit its bigint (a 500 that
# schemathesis found).
MAX_OFFSET = 1_000_000


class CappedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 200
    skip_query_param = "skip"
    count_cap = COUNT_CAP
    count_order = "-created_at"
    max_offset = MAX_OFFSET
    offset_query_description = f"Rows to skip before the page (at most {MAX_OFFSET:,})."

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        capped = self._counted(queryset).values("pk")[: self.count_cap + 1]
        # The page and its capped count in one statement: the count is an uncorrelated scalar
        # subquery, which the database runs once (an InitPlan) and returns on every row. A
        # second statement cost a round trip and a compile of its own (0.3 ms in-process).
        sql, params = capped.query.sql_with_params()
        counted = RawSQL(f"SELECT COUNT(*) FROM ({sql}) AS capped", params)
        # One row more than the page tells whether a next page exists past the cap too.
        page = self.page_of(queryset).annotate(_capped_count=counted)
        rows = list(page[self.offset : self.offset + self.limit + 1])
        if rows and isinstance(rows[0], tuple):  # values_list(): the count comes last
            count = rows[0][-1]
            rows = [row[:-1] for row in rows]
        elif rows:
            count = rows[0]._capped_count
        elif self.offset == 0:
            count = 0
        else:  # past the last row: the count still says how many there are
            count = capped.count()
        self.count_capped = count > self.count_cap
        self.count = min(count, self.count_cap)
        self.has_next = len(rows) > self.limit
        return rows[: self.limit]

    def page_of(self, queryset: QuerySet) -> QuerySet:
        """What a page reads of the filtered queryset (the count reads the queryset itself):
        its model instances here; a values_list() in a subclass, whose rows then come back as
        tuples without the count."""
        return queryset

    def _counted(self, queryset: QuerySet) -> QuerySet:
        """The queryset to count: newest first when the list is, else unordered.

        Counting in the full list order (created_at, then id) made PostgreSQL sort every match
        (143 ms for 10,000 matches of 1M rows). Ordered by created_at alone it walks the same
        newest-first index as the page and stops at the cap: `status=failed&task_type=add` on
        1M rows, median of 5, 16 ms unordered (a sequential scan to the 1,001st match), 6 ms
        newest first. Any other order (`?ordering=name`) counts unordered, the planner's choice.
        """
        if queryset.query.order_by[:1] == (self.count_order,):
            return queryset.order_by(self.count_order)
        return queryset.order_by()

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            raw = request.query_params.get(self.skip_query_param)
        if raw is None:
            return 0
        try:
            offset = int(raw)
        except ValueError:
            offset = -1
        if offset < 0:
            raise ValidationError(
                {self._offset_name(request): ["A non-negative integer is required."]}
            )
        if offset > self.max_offset:
            raise ValidationError(
                {
                    self._offset_name(request): [
                        f"At most {self.max_offset:,}; narrow the list with a filter "
                        "(created_before, status, task_type) to reach older rows."
                    ]
                }
            )
        return offset

    def _offset_name(self, request) -> str:
        if self.offset_query_param in request.query_params:
            return self.offset_query_param
        return self.skip_query_param

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ValidationError({self.limit_query_param: ["A positive integer is required."]})
        return min(limit, self.max_limit)

    def get_next_link(self):
        if not self.has_next:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.skip_query_param)
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_previous_link(self):
        if self.offset <= 0:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.skip_query_param)
        url = replace_query_param(url, self.limit_query_param, self.limit)
        previous = max(0, self.offset - self.limit)
        if previous == 0:
            return remove_query_param(url, self.offset_query_param)
        return replace_query_param(url, self.offset_query_param, previous)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_capped": self.count_capped,
                "limit": self.limit,
                "offset": self.offset,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "limit", "offset", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": f"Matching rows, counted up to {self.count_cap}.",
                    "example": 123,
                },
                "count_capped": {
                    "type": "boolean",
                    "description": f"True when more than {self.count_cap} rows match.",
                },
                "limit": {"type": "integer", "example": self.default_limit},
                "offset": {"type": "integer", "example": 0},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["description"] = (
                    f"Rows per page (default {self.default_limit}, at most {self.max_limit})."
                )
            if parameter["name"] == self.offset_query_param:
                parameter["schema"] = {**parameter["schema"], "maximum": self.max_offset}
        parameters.append(
            {
                "name": self.skip_query_param,
                "required": False,
                "in": "query",
                "description": f"Alias of `{self.offset_query_param}`.",
                "schema": {"type": "integer", "minimum": 0, "maximum": self.max_offset},
            }
        )
        return parameters

    def get_html_context(self):
        context = super().get_html_context()
        context["next_url"] = self.get_next_link()
        context["previous_url"] = self.get_previous_link()
        return context
