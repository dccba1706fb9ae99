"""The API's one list pagination: newest first by created_at, a cursor, `limit` up to 100."""

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from levqor.errors import AppError, ErrorCode


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100

    def decode_cursor(self, request):
        """A cursor we did not hand out is a bad parameter (400 naming it), not a missing page
        (DRF answers 404 NotFound), nor a crash: a forged position must not reach the query."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            if cursor is None or cursor.position is None or _position_valid(cursor.position):
                return cursor
        raise AppError(ErrorCode.VALIDATION_FAILED, "This cursor is not one the API handed out: use a next or previous "
                       "link as given, or list again without a cursor.",
                       details={"errors": [{"field": "cursor", "message": "Invalid cursor."}]})


def _position_valid(position: str) -> bool:
    # The position is the created_at of a page's edge, written with its UTC offset.
    try:
        parsed = parse_datetime(position)
    except ValueError:  # well formed but impossible, like month 13
        return False
    return parsed is not None and parsed.tzinfo is not None
