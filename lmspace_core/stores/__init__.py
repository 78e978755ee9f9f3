"""Persistence: the protocols, the embedded implementation (SQLite + vector files + content-addressed files)."""
