"""Commands that need no model start without importing torch, DSPy, onnxruntime or the tokenizer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config

REPO = Path(__file__).parent.parent
HEAVY = ("torch", "transformers", "sentence_transformers", "dspy", "litellm", "onnxruntime", "tokenizers")


def test_commands_that_need_no_model_import_no_model_library(tmp_path):
    config = write_config(tmp_path)
    script = (
        "import sys\n"
        "from lmspace_core.cli import app\n"
        "for args in (['--help'], ['spaces', 'create', 'plain'], ['spaces', 'list'], ['spaces', 'show', 'plain'],\n"
        "             ['docs', 'list', 'plain'], ['config', 'check']):\n"
        "    try:\n"
        f"        app(['--config', {str(config)!r}, *args], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"    loaded = sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r}))\n"
        "    assert not loaded, f'{args}: {loaded}'\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
