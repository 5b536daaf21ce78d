"""Suggester service: seed instruction generation flow, `transformed` -> `instructions`."""
