"""Research over a space's code while Azure is unreachable answers from the read cache of spaces used here, says
so, and reads each file in the content its document names now; what was never read here is named as missing."""

from __future__ import annotations

import json
from pathlib import Path

from lmspace_core.config import load_config
from lmspace_core.domain import Scope
from lmspace_core.stores.base import BlobPlacement
from lmspace_core.workspace import Workspace
from tests.conftest import azure_environment, unreachable_environment, write_config
from tests.test_azure_offline import lmspace  # noqa: F401  (the CLI online or offline, as a fixture)

MAIN = 'def main():\n    print("starting")\n    run()\n'
UTIL = 'def run():\n    print("running")\n'
NOTICE = "offline: answered from the local cache of"


def _code_space_elsewhere(lmspace, name: str = "app") -> None:  # noqa: F811
    """Another machine ingests a small codebase (its files named `codebase/...`): this one has never read the space
    when the test starts."""
    elsewhere = lmspace.online_elsewhere()
    try:
        elsewhere.ingest(elsewhere.create_space(name), {"src/main.py": MAIN, "src/util.py": UTIL,
                                                         "README.md": "# App\n\nRun it with `python -m app`.\n"})
    finally:
        elsewhere.close()


def _replace_elsewhere(lmspace, files: dict[str, str], name: str = "app") -> None:  # noqa: F811
    elsewhere = lmspace.online_elsewhere()
    try:
        elsewhere.ingest(elsewhere.space(name), files)
    finally:
        elsewhere.close()


def _findings(result) -> list[tuple[str, int, str]]:
    return [(f["path"], f["line"], f["text"].strip()) for f in json.loads(result.stdout)["findings"]]


def test_research_done_once_online_answers_offline_from_the_cache(lmspace):  # noqa: F811
    _code_space_elsewhere(lmspace)
    online = lmspace("research", "app", "Find print statements", "--json")
    assert json.loads(online.stdout)["cached_at"] is None
    assert _findings(online) == [("codebase/src/main.py", 2, 'print("starting")'), ("codebase/src/util.py", 2, 'print("running")')]

    offline = lmspace("research", "app", "Find print statements", "--json", reachable=False)
    assert _findings(offline) == _findings(online)
    assert json.loads(offline.stdout)["cached_at"] is not None
    shown = lmspace("research", "app", "Find print statements", reachable=False).output
    assert NOTICE in shown and "src/util.py:2" in shown
    plan = json.loads(lmspace("research", "app", "Find print statements", "--plan-only", "--json",
                              reachable=False).stdout)
    assert plan["strategy"] == "pattern"
    listed = json.loads(lmspace("docs", "list", "app", "--json", reachable=False).stdout)
    assert len(listed) == 3 and all(document["cached_at"] for document in listed)
    assert json.loads(lmspace("docs", "list", "app", "--json").stdout)[0]["cached_at"] is None


def test_a_file_replaced_online_is_read_offline_in_its_new_content(lmspace, tmp_path: Path):  # noqa: F811
    _code_space_elsewhere(lmspace)
    lmspace("research", "app", "Find print statements")
    # Replaced here, online: the new content is kept as it is written.
    changed = tmp_path / "src"
    changed.mkdir()
    (changed / "util.py").write_text('def run():\n    pass\n\n\ndef stop():\n    print("stopping")\n')
    lmspace("ingest", "app", str(changed / "util.py"))
    assert ("util.py", 6, 'print("stopping")') in _findings(
        lmspace("research", "app", "Find print statements", "--json", reachable=False))
    # Replaced elsewhere: the next online research here follows the change log, and reads the new content.
    _replace_elsewhere(lmspace, {"src/main.py": 'def main():\n    run()\n    print("started")\n'})
    lmspace("research", "app", "Find print statements")
    offline = _findings(lmspace("research", "app", "Find print statements", "--json", reachable=False))
    assert ("codebase/src/main.py", 3, 'print("started")') in offline
    assert not any(text == 'print("starting")' for _, _, text in offline)
    # Deleted elsewhere: gone from the offline copy after the next online use.
    _delete_elsewhere(lmspace, "codebase/src/util.py")
    lmspace("research", "app", "Find print statements")
    assert {path for path, _, _ in _findings(
        lmspace("research", "app", "Find print statements", "--json", reachable=False))} == {
        "codebase/src/main.py", "util.py"}


def _delete_elsewhere(lmspace, source: str) -> None:  # noqa: F811
    elsewhere = lmspace.online_elsewhere()
    try:
        space = elsewhere.space("app")
        elsewhere.delete_document(space, elsewhere.document(space, source))
    finally:
        elsewhere.close()


def test_code_ingested_offline_is_researched_offline(lmspace, tmp_path: Path):  # noqa: F811
    _code_space_elsewhere(lmspace)
    lmspace("research", "app", "Find print statements")
    added = tmp_path / "jobs.py"
    added.write_text('def nightly():\n    print("nightly")\n')
    lmspace("ingest", "app", str(added), reachable=False)
    offline = _findings(lmspace("research", "app", "Find print statements", "--json", reachable=False))
    assert ("jobs.py", 2, 'print("nightly")') in offline and len(offline) == 3


def test_research_of_what_was_never_read_here_is_offline_and_not_cached(lmspace):  # noqa: F811
    _code_space_elsewhere(lmspace)
    unknown = lmspace("research", "app", "Find print statements", reachable=False, code=11)
    assert "offline and not cached" in unknown.output.lower() and "space 'app'" in unknown.output
    assert "Traceback" not in unknown.output
    lmspace("spaces", "list")  # known by name now, its documents never listed
    listed = lmspace("research", "app", "Find print statements", reachable=False, code=11)
    assert "offline and not cached: the list of documents of space 'app'" in listed.output.lower()
    lmspace("ask", "app", "How do I run it?")  # searched: documents and chunks cached, no file read yet
    files = lmspace("research", "app", "Find print statements", reachable=False, code=11)
    assert "offline and not cached: the file 'codebase/src/main.py'" in files.output.lower()
    assert "once research has read them" in files.output  # searching a space keeps no file: say what does


def test_a_file_uploaded_offline_is_read_from_its_queued_write(tmp_path: Path, azure_emulators):
    online = azure_environment(azure_emulators)
    offline = Workspace(load_config(write_config(tmp_path), env=unreachable_environment(azure_emulators, online)))
    try:
        # The space is not cached here, so the read cache keeps nothing of it: the outbox holds the only copy.
        placement = BlobPlacement(Scope(offline.enterprise_id, "neverused"), "d1", "src/new.py", "h1", 2026, None)
        offline.blobs.put(placement, b'print("queued")\n')
        assert offline.blobs.get(placement) == b'print("queued")\n'
        newer = BlobPlacement(placement.scope, "d1", "src/new.py", "h2", 2026, None)
        offline.blobs.put(newer, b'print("newer")\n')
        assert offline.blobs.get(newer) == b'print("newer")\n'
        assert offline.blobs.get(placement) == b'print("queued")\n'  # each content under its own hash
    finally:
        offline.close()
