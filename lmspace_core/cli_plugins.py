"""`lmspace plugins`: what is installed (the built-ins included) and what each plugin registers."""

from __future__ import annotations

from rich.table import Table

from lmspace_core.cli import JsonFlag, _handles_errors, _print_json, console, shown
from lmspace_core.plugins import SETTING, installed

_SHOWN_NAMES = 12  # a loader plugin registers dozens of extensions; the table shows the first ones and a count


@_handles_errors
def plugins(as_json: JsonFlag = False) -> None:
    """List installed plugins and what each registers: store backends, embedders, LM providers, loaders, research
    strategies. Third-party plugins are packages declaring the `lmspace.plugins` entry point."""
    found = installed()
    if as_json:
        return _print_json([plugin.to_json_data() for plugin in found])
    table = Table("plugin", "from", "registers")
    for plugin in found:
        lines = [f"{SETTING[kind]}: {_names(names)}" for kind, names in plugin.to_json_data()["registers"].items()]
        origin = "built in" if plugin.built_in else f"{plugin.package} {plugin.version}" if plugin.package else "code"
        table.add_row(shown(plugin.name), shown(origin), shown("\n".join(lines) or "nothing"))
    console.print(table)


def _names(names: list[str]) -> str:
    more = len(names) - _SHOWN_NAMES
    return ", ".join(names[:_SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
