"""A third-party plugin as the tests install it: `.note` files (first line the title) and a scripted model.

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
