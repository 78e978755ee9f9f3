"""Turning inputs into chunks: where bytes come from (`sources`), bytes to text (`loaders`), text to chunks
(`chunking`)."""

from lmspace_core.ingest.chunking import chunk_document, estimate_tokens
from lmspace_core.ingest.loaders import LoadedDocument, Section, decode_text, load, load_text
from lmspace_core.ingest.sources import (
    IngestLimits,
    LeftOut,
    SourceFile,
    SourceListing,
    doc_type_for,
    file_source,
    folder_listing,
    folder_sources,
    is_supported,
    language_for,
    looks_like_codebase,
    zip_listing,
    zip_sources,
)

__all__ = [
    "IngestLimits",
    "LeftOut",
    "LoadedDocument",
    "Section",
    "SourceFile",
    "SourceListing",
    "chunk_document",
    "decode_text",
    "doc_type_for",
    "estimate_tokens",
    "file_source",
    "folder_listing",
    "folder_sources",
    "is_supported",
    "language_for",
    "load",
    "load_text",
    "looks_like_codebase",
    "zip_listing",
    "zip_sources",
]
