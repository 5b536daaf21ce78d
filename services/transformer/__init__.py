"""Transformer service: content transformation flow, `seeds` -> `transformed`."""
