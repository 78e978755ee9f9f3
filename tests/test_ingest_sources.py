"""Where input bytes come from: single files, folders and zip archives, read safely and within limits."""

from __future__ import annotations

import os
import stat
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from lmspace_core.errors import IngestError
from lmspace_core.ingest.sources import (
    NOT_UTF8_NAME,
    IngestLimits,
    LeftOut,
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

MIB = 1024 * 1024


def write(path: Path, content: bytes | str = "hello") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def make_zip(path: Path, entries: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name) if name.endswith("/") else name, content)
    return path


@pytest.mark.parametrize(
    ("path", "doc_type"),
    [
        ("notes.txt", "text"), ("server.LOG", "text"), ("guide.rst", "text"), ("README.md", "markdown"),
        ("a/b.markdown", "markdown"), ("policy.pdf", "pdf"), ("memo.docx", "docx"), ("page.htm", "html"),
        ("rows.csv", "csv"), ("data.json", "json"), ("src/app.py", "code"), ("deploy.yaml", "code"),
        ("pyproject.toml", "code"), ("setup.cfg", "code"),
    ],
)
def test_each_supported_extension_maps_to_its_document_type(path: str, doc_type: str) -> None:
    assert is_supported(path)
    assert doc_type_for(path) == doc_type


@pytest.mark.parametrize("path", ["photo.png", "tool.exe", "archive.zip", "Makefile", "old.doc"])
def test_other_extensions_are_not_supported(path: str) -> None:
    assert not is_supported(path)
    with pytest.raises(IngestError, match="not a supported file type"):
        doc_type_for(path)


@pytest.mark.parametrize(
    ("path", "language"),
    [("a.py", "python"), ("a.tsx", "typescript"), ("a.mjs", "javascript"), ("a.rs", "rust"), ("a.h", "c"),
     ("a.hpp", "cpp"), ("a.cs", "csharp"), ("a.bash", "shell"), ("a.yml", "yaml"), ("a.R", "r"), ("a.md", None),
     ("a.pdf", None)],
)
def test_language_is_named_for_code_and_none_for_documents(path: str, language: str | None) -> None:
    assert language_for(path) == language


def test_file_source_is_shown_by_file_name_and_reads_whole_content(tmp_path: Path) -> None:
    path = write(tmp_path / "docs" / "policy.txt", "refunds within 30 days")
    source = file_source(path, IngestLimits())
    assert (source.path, source.size) == ("policy.txt", 22)
    assert source.read() == b"refunds within 30 days"


def test_missing_file_is_reported_by_path(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        file_source(tmp_path / "nope.txt", IngestLimits())


def test_folder_given_as_a_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="is a folder, not a file"):
        file_source(tmp_path, IngestLimits())


def test_oversized_file_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(200 * MIB)
    tracemalloc.start()
    try:
        source = file_source(path, IngestLimits())
        with pytest.raises(IngestError) as error:
            source.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "50 MB" in str(error.value) and "200.0 MB" in str(error.value)
    assert peak < 20 * MIB


def test_file_that_grows_past_the_limit_after_listing_is_refused_by_bounded_read(tmp_path: Path) -> None:
    path = write(tmp_path / "grows.txt", "small")
    source = file_source(path, IngestLimits(max_file_bytes=100))
    path.write_bytes(b"x" * 1000)
    with pytest.raises(IngestError, match="over the .* limit per file"):
        source.read()


def test_folder_sources_lists_supported_files_sorted_by_posix_relative_path(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.py", "a/image.png", "a/deep/c.md", "Z.json"]:
        write(tmp_path / name)
    sources = list(folder_sources(tmp_path, IngestLimits()))
    assert [s.path for s in sources] == ["Z.json", "a/deep/c.md", "a/z.py", "b.txt"]
    assert sources[2].read() == b"hello"


def test_folder_sources_skip_tooling_dependency_build_and_hidden_folders(tmp_path: Path) -> None:
    skipped = [".git/config.py", "node_modules/x/index.js", "__pycache__/m.py", ".venv/lib.py", "venv/a.py",
               "dist/out.js", "build/out.js", ".tox/t.py", ".github/workflows/ci.yml", "src/.cache/c.txt"]
    for name in [*skipped, "src/keep.py"]:
        write(tmp_path / name)
    assert [s.path for s in folder_sources(tmp_path, IngestLimits())] == ["src/keep.py"]


def test_folder_sources_of_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="is not a folder"):
        list(folder_sources(write(tmp_path / "a.txt"), IngestLimits()))


def test_zip_sources_list_supported_entries_and_skip_directories_and_others(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "repo.zip", {
        "src/": "", "src/app.py": "print(1)", "README.md": "# Hi", "logo.png": b"\x89PNG",
        "node_modules/x/index.js": "x", "__MACOSX/src/._app.py": b"\x00\x05",
    })
    sources = zip_sources(archive, IngestLimits())
    assert [s.path for s in sources] == ["README.md", "src/app.py"]
    assert sources[1].read() == b"print(1)"
    assert sources[1].size == 8


@pytest.mark.parametrize(
    ("entry", "reason"),
    [("../evil.py", "'..'"), ("docs/../../evil.py", "'..'"), ("/etc/cron.d/x.sh", "absolute"),
     ("C:/Windows/x.txt", "drive letter"), ("docs\\..\\evil.txt", "backslash")],
)
def test_zip_with_an_unsafe_entry_path_is_refused_whole(tmp_path: Path, entry: str, reason: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", {"good.txt": "fine", entry: "pwned", "image.png": b"x"})
    with pytest.raises(IngestError, match=reason) as error:
        zip_sources(archive, IngestLimits())
    assert repr(entry) in str(error.value)


def test_zip_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{n}.txt": "x" for n in range(11)})
    with pytest.raises(IngestError, match=r"11 entries.*limit of 10 \(ingest.max_zip_entries\)"):
        zip_sources(archive, IngestLimits(max_zip_entries=10))


def test_zip_declaring_more_content_than_the_limit_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"a.txt": "x" * 600_000, "b.txt": "y" * 600_000})
    with pytest.raises(IngestError, match=r"ingest.max_zip_total_mb"):
        zip_sources(archive, IngestLimits(max_zip_total_bytes=MIB))


def test_zip_bomb_entry_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.txt": b"\x00" * (4 * MIB)})
    with pytest.raises(IngestError, match=r"zip bomb.*'zeros.txt'.*max_compression_ratio"):
        zip_sources(archive, IngestLimits())


def test_small_highly_compressible_entry_is_not_mistaken_for_a_bomb(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "ok.zip", {"blank.txt": " " * (512 * 1024)})
    assert [s.path for s in zip_sources(archive, IngestLimits())] == ["blank.txt"]


def test_zip_entry_over_the_file_limit_is_refused_when_read(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"big.txt": os.urandom(300).hex(), "small.txt": "ok"})
    big, small = zip_sources(archive, IngestLimits(max_file_bytes=100))
    with pytest.raises(IngestError, match="big.txt is 0.0 MB, over the .* limit per file"):
        big.read()
    assert small.read() == b"ok"


def test_zip_symbolic_link_entries_are_skipped_and_listed(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("passwd.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "links.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
        archive.writestr("real.txt", "real")
    listing = zip_listing(tmp_path / "links.zip", IngestLimits())
    assert [s.path for s in listing.files] == ["real.txt"]
    assert [e.path for e in listing.left_out] == ["passwd.txt"]
    assert listing.left_out[0].reason.startswith("skipped: a symbolic link")


def test_encrypted_zip_entry_is_reported_when_read(tmp_path: Path) -> None:
    data = bytearray(make_zip(tmp_path / "locked.zip", {"secret.txt": "ciphertext"}).read_bytes())
    # zipfile cannot write encrypted entries: set the "encrypted" flag in the local and central headers by hand.
    data[data.index(b"PK\x03\x04") + 6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    (tmp_path / "locked.zip").write_bytes(data)
    (secret,) = zip_sources(tmp_path / "locked.zip", IngestLimits())
    with pytest.raises(IngestError, match="secret.txt is encrypted inside locked.zip"):
        secret.read()


def test_corrupt_zip_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a readable zip archive"):
        zip_sources(write(tmp_path / "broken.zip", os.urandom(500)), IngestLimits())


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["src/a.py", "src/b.py", "README.md"], True),
        (["README.md", "guide.md", "app.py"], False),
        (["docs/a.md", "docs/b.md", "docs/c.md", "package.json"], True),
        (["notes/Makefile", "a.md", "b.md"], True),
        ([".git/HEAD", "a.md"], True),
        (["a.md", "b.py"], False),
        ([], False),
    ],
)
def test_codebase_is_recognised_by_mostly_code_or_a_project_marker(paths: list[str], expected: bool) -> None:
    assert looks_like_codebase(paths) is expected


# -- hostile names, links and special files -------------------------------------------------------------------


def write_raw_name(folder: Path, name: bytes, content: bytes = b"hello") -> None:
    """Create a file whose name is raw bytes (possibly not UTF-8), as another program or OS could have."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as file:
        file.write(content)


def misflagged_zip(path: Path, entries: dict[str, bytes | str]) -> Path:
    """A zip whose entries named `café...` are flagged UTF-8 but whose stored name bytes are Latin-1 (invalid UTF-8)."""
    make_zip(path, entries)
    # Same length keeps every offset valid: 'é' (c3 a9 in UTF-8) becomes e9 e9, which is not UTF-8.
    path.write_bytes(path.read_bytes().replace("café".encode(), b"caf\xe9\xe9"))
    return path


def test_a_folder_file_whose_name_is_not_utf8_fails_alone_with_an_escaped_name(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "fine")
    write_raw_name(tmp_path, b"caf\xe9.txt")
    listing = folder_listing(tmp_path, IngestLimits())
    assert [s.path for s in listing.files] == ["good.txt"]
    assert listing.left_out == (LeftOut("caf\\xe9.txt", NOT_UTF8_NAME, failed=True),)
    listing.left_out[0].path.encode("utf-8")  # storable and printable: no lone surrogates


def test_a_zip_entry_flagged_utf8_that_is_not_fails_alone_when_it_would_be_read(tmp_path: Path) -> None:
    entries = {"café.txt": "bonjour", "café.png": b"\x89PNG", "good.txt": "fine"}
    archive = misflagged_zip(tmp_path / "names.zip", entries)
    listing = zip_listing(archive, IngestLimits())
    assert [(s.path, s.read()) for s in listing.files] == [("good.txt", b"fine")]
    [unsupported, unreadable] = listing.left_out
    assert unreadable == LeftOut("caf\\xe9\\xe9.txt", NOT_UTF8_NAME, failed=True)
    assert (unsupported.path, unsupported.failed) == ("caf\\xe9\\xe9.png", False)  # skipped for its type, named escaped


def test_a_hard_link_to_a_file_outside_the_folder_is_skipped_and_listed(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "hostname.txt", "secret-host")
    root = tmp_path / "root"
    write(root / "real.txt")
    os.link(outside, root / "hostname.txt")
    listing = folder_listing(root, IngestLimits())
    assert [s.path for s in listing.files] == ["real.txt"]
    [(path, reason)] = [(e.path, e.reason) for e in listing.left_out]
    assert path == "hostname.txt" and reason.startswith("skipped: a hard link")


def test_a_file_hard_linked_twice_inside_the_folder_is_read_under_both_names(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "shared")
    os.link(tmp_path / "a.txt", tmp_path / "b.txt")
    listing = folder_listing(tmp_path, IngestLimits())
    assert [s.path for s in listing.files] == ["a.txt", "b.txt"] and listing.left_out == ()


def test_links_and_special_files_are_skipped_and_listed_with_their_reason(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "secret.txt", "secret")
    root = tmp_path / "root"
    write(root / "real.txt")
    (root / "link.txt").symlink_to(outside)
    (root / "linked_dir").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(root / "pipe.txt")
    listing = folder_listing(root, IngestLimits())
    assert [s.path for s in listing.files] == ["real.txt"]
    reasons = {e.path: e.reason for e in listing.left_out}
    assert set(reasons) == {"link.txt", "linked_dir", "pipe.txt"}
    assert reasons["link.txt"].startswith("skipped: a symbolic link")
    assert reasons["linked_dir"].startswith("skipped: a symbolic link")
    assert reasons["pipe.txt"] == "skipped: a named pipe (FIFO), not a regular file"
    assert not any(e.failed for e in listing.left_out)


# -- zip bombs spread over many entries, empty archives, one open archive ----------------------------------------


def test_many_small_entries_that_add_up_to_a_bomb_are_refused(tmp_path: Path) -> None:
    # Each entry stays at the 1 MiB per-entry floor; together they expand ~1000x.
    archive = make_zip(tmp_path / "spread.zip", {f"z{n}.txt": b"\x00" * MIB for n in range(20)})
    assert max(info.file_size for info in zipfile.ZipFile(archive).infolist()) == MIB
    with pytest.raises(IngestError, match=r"zip bomb: the archive as a whole expands \d+x.*max_compression_ratio"):
        zip_sources(archive, IngestLimits())


def test_an_archive_with_no_entries_says_it_has_no_files(tmp_path: Path) -> None:
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(IngestError, match="empty.zip has no files in it"):
        zip_sources(tmp_path / "empty.zip", IngestLimits())


def test_a_zip_is_opened_once_for_listing_and_every_read(tmp_path: Path, monkeypatch) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{n:03}.txt": f"file {n}" for n in range(50)})
    opened = []
    real_init = zipfile.ZipFile.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(args[0])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting_init)
    sources = zip_sources(archive, IngestLimits())
    assert [s.read() for s in sources] == [f"file {n}".encode() for n in range(50)]
    assert len(opened) == 1


def test_the_open_archive_is_closed_when_its_sources_are_gone(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.txt": "a"})
    descriptors = Path("/proc/self/fd")
    before = len(list(descriptors.iterdir()))
    sources = zip_listing(archive, IngestLimits()).files
    assert sources[0].read() == b"a"
    assert len(list(descriptors.iterdir())) == before + 1
    del sources
    assert len(list(descriptors.iterdir())) == before


# -- files of types LMSpace does not read are listed, not dropped silently ------------------------------------------


def test_a_folder_lists_its_files_of_unsupported_types_as_skipped_with_the_type(tmp_path: Path) -> None:
    """/usr/share/doc/bash's `inputrc.arrows` vanished from the ingest report: 14 rows for a folder of 15 files."""
    for name in ["RBASH", "inputrc.arrows", "img/logo.png", "Makefile.in.sample", ".gitignore", ".git/HEAD"]:
        write(tmp_path / name)
    listing = folder_listing(tmp_path, IngestLimits())
    assert [s.path for s in listing.files] == ["RBASH"]
    reasons = {e.path: e.reason for e in listing.left_out}
    assert set(reasons) == {"inputrc.arrows", "img/logo.png", "Makefile.in.sample"}  # hidden files stay unlisted
    assert reasons["img/logo.png"].startswith("skipped: LMSpace does not read '.png' files")
    assert all(e.unsupported and not e.failed for e in listing.left_out)


def test_a_zip_lists_its_entries_of_unsupported_types_as_skipped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "repo.zip", {
        "repo/src/app.py": "print(1)", "repo/logo.png": b"\x89PNG", "repo/node_modules/x/y.bin": b"x",
        "__MACOSX/repo/._app.py": b"\x00\x05",
    })
    listing = zip_listing(archive, IngestLimits())
    assert [s.path for s in listing.files] == ["repo/src/app.py"]
    assert [(e.path, e.unsupported) for e in listing.left_out] == [("repo/logo.png", True)]
