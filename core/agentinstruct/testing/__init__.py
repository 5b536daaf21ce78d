"""Test and benchmark helpers."""
