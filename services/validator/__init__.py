"""Validator service: the quality gate, `candidates` -> MongoDB `pairs` (and `rejected`)."""
