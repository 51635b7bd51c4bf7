"""Moved to tests/factories.py; kept while bench/checks_bench.py imports ``complete_sections`` from here."""

from tests.factories import complete_sections

__all__ = ["complete_sections"]
