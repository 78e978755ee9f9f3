"""Documentation as distributions ship it (/usr/share/doc): gzip-compressed files and text files named by
convention (README, changelog.Debian.gz, copyright) are read like any text, within the same limits."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from lmspace_core.domain import IngestReport, Outcome
from lmspace_core.errors import IngestError
from lmspace_core.ingest.loaders import load
from lmspace_core.ingest.sources import IngestLimits, SourceFile, doc_type_for, is_supported

MIB = 1024 * 1024
CHANGELOG = (
    "openssh (1:9.6p1-3) unstable; urgency=medium\n\n"
    "  * Allow the ssh-agent socket to live under XDG_RUNTIME_DIR.\n"
    "  * Restart sshd after the openssl upgrade.\n\n"
    " -- Colin Watson <cjwatson@debian.org>  Mon, 22 Jan 2024 10:00:00 +0000\n"
)


def source(path: str, data: bytes) -> SourceFile:
    return SourceFile(path, len(data), lambda: data)


@pytest.mark.parametrize(
    ("path", "doc_type"),
    [("README", "text"), ("README.Debian", "text"), ("copyright", "text"), ("NEWS.gz", "text"),
     ("changelog.Debian.gz", "text"), ("AUTHORS", "text"), ("COMPAT.gz", "text"), ("RBASH", "text"), ("guide.html.gz", "html"), ("notes.md.gz", "markdown"),
     ("src/tool.py.gz", "code")],
)
def test_conventional_names_and_compressed_files_are_supported(path: str, doc_type: str) -> None:
    assert is_supported(path)
    assert doc_type_for(path) == doc_type


@pytest.mark.parametrize("path", ["backup.tar.gz", "photo.png.gz", "data.gz", "Makefile", "readme.doc", "LICENSE.png", "Ab", "IO"])
def test_other_compressed_or_unnamed_files_stay_unsupported(path: str) -> None:
    assert not is_supported(path)


def test_a_compressed_changelog_is_read_as_its_text() -> None:
    document = load(source("changelog.Debian.gz", gzip.compress(CHANGELOG.encode())))
    assert document.doc_type == "text"
    assert "ssh-agent socket" in document.text


def test_compressed_html_goes_through_the_html_loader() -> None:
    page = b"<html><head><title>Install guide</title></head><body><h1>Setup</h1><p>Run make.</p></body></html>"
    document = load(source("guide.html.gz", gzip.compress(page)))
    assert document.title == "Install guide"
    assert "<p>" not in document.text and "Run make." in document.text


def test_a_file_that_decompresses_past_the_limit_is_refused_naming_it() -> None:
    bomb = gzip.compress(b"a" * (3 * MIB))
    assert len(bomb) < MIB / 100  # small on disk: only the decompressed size can catch it
    with pytest.raises(IngestError, match=r"NEWS.gz decompresses to more than 1 MB .*ingest.max_file_mb"):
        load(source("NEWS.gz", bomb), IngestLimits(max_file_bytes=MIB))


@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(CHANGELOG.encode())[:30]])
def test_corrupt_or_truncated_gzip_is_reported(data: bytes) -> None:
    with pytest.raises(IngestError, match=r"changelog.gz is not a valid gzip file"):
        load(source("changelog.gz", data))


def test_conventional_names_numbered_as_repeated_uploads_are_read(workspace) -> None:
    """Three packages' `copyright` files uploaded together become `copyright`, `copyright (2)`, `copyright (3)`."""
    space = workspace.create_space("licences")
    uploads = [(f"{package}/{name}", f"{package} notes\n".encode()) for package in ("bash", "git", "openssh")
               for name in ("copyright", "README.Debian", "RBASH")]
    job = workspace.start_ingest(space, uploads)
    report = IngestReport.from_json_data(workspace.jobs.wait(workspace.enterprise_id, job.id, timeout=120).result)
    assert {(f.source, f.outcome) for f in report.files} == {
        (f"{stem}{number}{suffix}", Outcome.ADDED) for stem, suffix in (("copyright", ""), ("README", ".Debian"),
                                                                          ("RBASH", ""))
        for number in ("", " (2)", " (3)")}


def test_a_package_doc_folder_is_ingested_and_answers_from_its_compressed_changelog(workspace, tmp_path: Path) -> None:
    folder = tmp_path / "openssh-client"
    folder.mkdir()
    (folder / "README.Debian").write_text("Debian notes: X11 forwarding is disabled by default.\n")
    (folder / "copyright").write_text("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    (folder / "changelog.Debian.gz").write_bytes(gzip.compress(CHANGELOG.encode()))
    (folder / "backup.tar.gz").write_bytes(gzip.compress(b"tar bytes"))
    space = workspace.create_space("debian-docs")

    report = workspace.ingest(space, folder)

    stored = sorted(f.source.rsplit("/", 1)[-1] for f in report.files if f.outcome is Outcome.ADDED)
    assert stored == ["README.Debian", "changelog.Debian.gz", "copyright"]
    hits = workspace.search(space, "Where can the ssh-agent socket live?")
    assert hits[0].document.source.endswith("changelog.Debian.gz")


@pytest.mark.parametrize("path", ["LICENSE-MIT", "LICENSE-APACHE", "COPYING-LGPL.gz", "README_zh", "CHANGES-2.x"])
def test_well_known_names_with_a_qualifier_are_read_as_text(path: str) -> None:
    """Rust and Python projects ship LICENSE-MIT beside LICENSE-APACHE: a zipped codebase left both out."""
    assert doc_type_for(path) == "text"


@pytest.mark.parametrize("path", ["IMG-001.heic", "DATA_2024.dat", "bash-README"])
def test_only_well_known_names_take_a_qualifier(path: str) -> None:
    assert not is_supported(path)


def test_a_compressed_file_of_an_unread_type_is_refused_naming_the_type_inside(tmp_path: Path) -> None:
    """'unsupported file type .gz' read as if gzip were refused, beside a list saying .gz files are read."""
    from lmspace_core.ingest.inputs import items_from_path

    path = tmp_path / "bash-README.gz"
    path.write_bytes(gzip.compress(b"Bash is the GNU shell.\n"))
    [item] = items_from_path(path, IngestLimits())
    assert item.error.startswith("unsupported file type 'bash-README' (compressed with gzip)")
