"""Backends: one file per implementation of a protocol."""
