"""Filled by the approvals issue."""
