"""Streaming CSV and JSON Lines exports of a filtered audit log, in chain order."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

from .services import canonical_json

EXPORT_FIELDS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "model_name",
    "version",
    "data",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula; the claimed name of a failed
# sign-in is attacker-controlled text, so such cells get a leading quote (JSON Lines stays exact).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value):
        return value


def export_response(events, export_format: str) -> StreamingHttpResponse:
    rows = events.order_by("seq").values_list(*EXPORT_FIELDS).iterator(chunk_size=2000)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if export_format == "csv":
        body, content_type, suffix = _csv_lines(rows), "text/csv; charset=utf-8", "csv"
    else:
        body, content_type, suffix = _jsonl_lines(rows), "application/x-ndjson; charset=utf-8", "jsonl"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{suffix}"'
    return response


def _csv_lines(rows):
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for row in rows:
        yield writer.writerow([_csv_cell(value) for value in _plain(row)])


def _csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def _jsonl_lines(rows):
    for row in rows:
        yield canonical_json(dict(zip(EXPORT_FIELDS, _row_values(row), strict=True))) + "\n"


def _row_values(row):
    seq, created_at, *rest = row
    return [seq, created_at.isoformat(), *rest]


def _plain(row):
    """A CSV row: the data column as canonical JSON text."""
    values = _row_values(row)
    values[EXPORT_FIELDS.index("data")] = canonical_json(values[EXPORT_FIELDS.index("data")])
    return values
