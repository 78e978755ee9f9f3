"""A third-party plugin as the tests install it: `.note` files (first line the title), a scripted model, and a
research strategy that needs no model (lines mentioning the question's word).

It imports only the public `lmspace.plugin` module, as a package outside this repository would.
"""

from lmspace import plugin

ANSWER = "The notes plugin's model says: the offsite is in Lisbon [1]."


@plugin.hookimpl
def register_loaders(register):
    register(".note", load_note)


def load_note(data: bytes, path: str, limits) -> plugin.LoadedDocument:
    title, _, body = data.decode("utf-8").partition("\n")
    return plugin.LoadedDocument(path, "text", None, title.strip(), (plugin.Section(body.strip(), start_line=2),))


@plugin.hookimpl
def register_lm_providers(register):
    register("scripted_notes", scripted_lm, describe=lambda settings: "scripted notes model (test plugin)")


def scripted_lm(settings, data_dir):
    from dspy.utils import DummyLM

    return DummyLM([{"reasoning": "The note says so.", "answer": ANSWER, "cited": [1]}] * 50)


@plugin.hookimpl
def register_research_strategies(register):
    register("word_lines", WordLines)


class WordLines:
    """Every line of the selected files containing the plan's question, as findings; no model."""

    def __init__(self, workspace, lm) -> None:
        self.workspace = workspace

    def run(self, task, question, codebase, files, progress):
        findings = tuple(
            plugin.Finding(file.path, number, number, line, note=f"mentions {question}")
            for file in files
            for number, line in enumerate(codebase.read(file.path).splitlines(), start=1)
            if question in line
        )
        return plugin.StrategyResult(findings, f"{len(findings)} lines mention {question}.", lm_calls=0, tokens=0)
