"""Embedders turn passages and questions into normalised float32 vectors."""
