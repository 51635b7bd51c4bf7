"""Filled by the cards issue."""
