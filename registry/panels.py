"""Panels: how other apps add to the registry's pages without ``registry`` importing them.

``registry`` never imports ``cards`` or ``approvals`` (docs/architecture.md). They register here, in their
``AppConfig.ready()``, what they add to a registry page:

- a ``Panel``: a block in one of the page's ``SLOTS``; its selector takes the page's ``PageObjects`` and
  returns the context of its partial template;
- a ``Column`` of the page's table (the model list's models, the model page's versions): a heading, a
  selector that takes the table's whole page of rows and returns each row's value by ``row.pk`` in a
  fixed number of queries (never one per row), and a partial for the cell (context: ``row``, ``value``).

A registry view builds the page's ``PageObjects`` and passes ``panels_for(objects)`` and
``columns_for(objects, rows)`` to its template, which renders them with ``{% render_panel %}`` and
``{% render_cell %}`` (``registry_tags``). A selector runs once per page, when the page renders its panel
or column, so an htmx fragment without them costs none of their queries. What several selectors of a
page need (one query shared by a banner and a column, a version's content digest) they compute once with
``objects.once(key, compute)``. A partial sees its selector's context plus the page's ``request``, ``user``
and ``csrf_token``, nothing else of the page. Adding a panel changes nothing in ``registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

T = TypeVar("T")

# Each page's slots, in page order. model list — "top": under the sync status, above the filters.
# model page — "top": under the model's facts (banners); "aside": beside the headline metrics; "end".
# version page — "top": under the description; "after_tags": after the tags; "end".
SLOTS: dict[str, tuple[str, ...]] = {
    "model_list": ("top",),
    "model": ("top", "aside", "end"),
    "version": ("top", "after_tags", "end"),
}
# The pages with a table of rows: the model list's models, the model page's versions.
TABLES = ("model_list", "model")


@dataclass
class PageObjects:
    """What one registry page shows, handed to each of its panel and column selectors.

    ``page`` is a key of ``SLOTS``; ``model`` is set on the model and version pages, ``version`` on the
    version page (with its ``model``, ``run`` and ``logged_model``).
    """

    page: str
    user: Any
    model: Any = None
    version: Any = None
    _memo: dict = field(default_factory=dict, repr=False)

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` the first time any selector of this page asks for ``key``; the same value after."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


@dataclass(frozen=True)
class Panel:
    """A block on a registry page: ``template`` rendered with ``selector(objects)`` in ``slot``."""

    name: str  # "<app>.<what>"; registering a name again replaces it
    page: str
    slot: str
    selector: Callable[[PageObjects], dict]
    template: str  # "app/file.html" or "app/file.html#partial"
    order: int = 0  # smaller first within the slot; equal ones in registration order

    def __post_init__(self):
        if self.slot not in SLOTS.get(self.page, ()):
            raise ValueError(f"panel {self.name!r}: no slot {self.slot!r} on page {self.page!r} (see SLOTS)")


@dataclass(frozen=True)
class Column:
    """A column of a registry page's table: ``heading``, and per row ``template`` with ``row`` and its ``value``."""

    name: str
    page: str
    heading: str
    selector: Callable[[PageObjects, Sequence], Mapping[Any, Any]]  # rows → {row.pk: value}, in fixed queries
    template: str
    order: int = 0

    def __post_init__(self):
        if self.page not in TABLES:
            raise ValueError(f"column {self.name!r}: page {self.page!r} has no table (see TABLES)")


_registered: dict[str, Panel | Column] = {}


def register(item: Panel | Column) -> None:
    _registered[item.name] = item


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _of_page(kind: type, page: str) -> list:
    # sorted() is stable: equal orders keep registration order (dicts keep insertion order).
    return sorted((i for i in _registered.values() if isinstance(i, kind) and i.page == page), key=lambda i: i.order)


@dataclass
class ShownPanel:
    """A panel on one page; its selector runs when the page first renders it."""

    panel: Panel
    objects: PageObjects

    @cached_property
    def context(self) -> dict:
        return self.panel.selector(self.objects)


@dataclass
class ShownColumn:
    """A column over one page of rows; its selector runs (for every row) when the first cell renders."""

    column: Column
    objects: PageObjects
    rows: Sequence

    @property
    def heading(self) -> str:
        return self.column.heading

    @cached_property
    def values(self) -> Mapping[Any, Any]:
        return self.column.selector(self.objects, self.rows)

    def value(self, row) -> Any:
        return self.values.get(row.pk)


def panels_for(objects: PageObjects) -> dict[str, list[ShownPanel]]:
    """The page's panels by slot: every slot of the page, empty or not."""
    shown: dict[str, list[ShownPanel]] = {slot: [] for slot in SLOTS[objects.page]}
    for panel in _of_page(Panel, objects.page):
        shown[panel.slot].append(ShownPanel(panel, objects))
    return shown


def columns_for(objects: PageObjects, rows: Sequence) -> list[ShownColumn]:
    """The columns other apps add to the page's table, over ``rows`` (the rows the page shows)."""
    return [ShownColumn(column, objects, rows) for column in _of_page(Column, objects.page)]
