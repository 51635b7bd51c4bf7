"""The API's page-number pagination (``NINJA_PAGINATION_CLASS``): ninja's, with the page number bounded.

Every list endpoint answers ``{"items": [...], "count": N}`` for ``?page=`` (from 1) and ``?page_size=``
(default ``NINJA_PAGINATION_PER_PAGE``, at most ``NINJA_MAX_PER_PAGE_SIZE``); a page past the end has no
items. The bound keeps a huge page number a 422 rather than an offset the database cannot hold.
"""

from ninja import Field, Schema
from ninja.pagination import PageNumberPagination

MAX_PAGE = 1_000_000


class PageNumbers(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int | None = Field(None, ge=1)
