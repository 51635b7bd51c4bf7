"""Moved to tests/factories.py; kept while test_pages.py and test_panels.py import from here. Their models keep
the owner they had here: test_pages.py finds "alice" on the model page (tests/factories.py's owner is olga-owner)."""

from functools import partial

from tests import factories
from tests.factories import T0, make_dataset, make_version, stage_change, use_dataset

make_model = partial(factories.make_model, owner="alice")

__all__ = ["T0", "make_dataset", "make_model", "make_version", "stage_change", "use_dataset"]
