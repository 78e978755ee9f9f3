"""Where a space's compiled DSPy programs live, and how an agent picks up the one `lmspace optimize` saved.

A compiled program is the state of a DSPy module (its demos and instructions) as DSPy's `save` writes it: JSON under
`<data_dir>/programs/<enterprise>/<space id>/<name>.json`. The agent's own module is never changed: each use loads
the saved state onto a copy, so one agent serves every space, each with its own program, and deleting the file
(`lmspace optimize SPACE --reset`) brings the uncompiled program back. A `prompt` sync keeps each program it compiles
as a version under `versions/`; activating the version copies it to where the agent reads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from lmspace_core.domain import Space
from lmspace_core.errors import LMSpaceError

if TYPE_CHECKING:  # the dashboard asks where programs are without paying for DSPy's import
    import dspy

KNOWLEDGE = "knowledge"
PLANNER = "planner"


def _space_folder(data_dir: Path, space: Space) -> Path:
    return data_dir / "programs" / space.enterprise_id / space.id


def program_path(data_dir: Path, space: Space, name: str) -> Path:
    return _space_folder(data_dir, space) / f"{name}.json"


def version_path(data_dir: Path, space: Space, name: str, version: str) -> Path:
    """Where a `prompt` sync keeps a compiled program of the space as model version `version`."""
    return _space_folder(data_dir, space) / "versions" / f"{name}-{version}.json"


def install_program(version: Path, path: Path) -> None:
    """Make the program saved at `version` the one the agent reads at `path` (a half-copied file never shows)."""
    if not version.is_file():
        raise LMSpaceError(f"The compiled program {version} is missing; activate another model version, or run "
                           "`lmspace sync start SPACE --kind prompt` again.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial.json")
    shutil.copyfile(version, partial)
    partial.replace(path)


def save_program(module: dspy.Module, path: Path) -> None:
    """Write the module's state where `program_path` says; a half-written file never replaces a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial.json")  # DSPy picks the format by the suffix
    module.save(str(partial))
    partial.replace(path)


def compiled[M: dspy.Module](module: M, path: Path) -> M:
    """`module` with the state saved at `path`, on a copy; `module` itself when nothing was saved there."""
    if not path.is_file():
        return module
    try:
        state = orjson.loads(path.read_bytes())
        copy = module.deepcopy()
        copy.load_state(state)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise LMSpaceError(
            f"The compiled program {path} cannot be loaded ({error}); run `lmspace optimize` for the space again, "
            "or remove it with `lmspace optimize SPACE --reset`."
        ) from error
    return copy


def remove_program(path: Path) -> bool:
    """Delete a saved program; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_space_programs(data_dir: Path, space: Space) -> None:
    """Delete every program compiled for a space (the space itself is being deleted)."""
    shutil.rmtree(_space_folder(data_dir, space), ignore_errors=True)
