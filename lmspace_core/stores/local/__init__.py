"""The embedded default: one data directory with a SQLite database, vector files and raw files."""
