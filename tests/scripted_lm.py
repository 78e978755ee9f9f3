"""`ScriptedLM`: a DSPy `DummyLM` whose replies depend on what the prompt holds, to test prompt optimisation.

It answers the `known` inputs well; any other input only when its prompt carries demos (or, with `needs`, when the
instructions or demos contain that text). That is what compiling changes for a real model: the optimiser bootstraps
demos from the inputs the model already handles, and the held-out inputs are handled well only once those demos (or a
proposed instruction) are in the prompt. Calls of the optimiser's own signatures (MIPROv2's proposals) get a line of
text per output field.
"""

from __future__ import annotations

import re

from dspy.clients.engines.dummy_engine import AsyncDummyEngine, DummyEngine
from dspy.lm15 import Message, Response, TextPart, Usage
from dspy.utils import DummyLM

_OUTPUTS = re.compile(r"Your output fields are:(.*?)All interactions", re.S)


class ScriptedLM(DummyLM):
    def __init__(self, replies: dict[str, dict], unsure: dict, known: set[str], needs: str = "") -> None:
        """`replies`: the good reply for each input (found by its key in the prompt's last message); `unsure`: the
        reply otherwise, which also names every output field of the program under test."""
        super().__init__({})
        self.replies, self.unsure, self.known, self.needs = replies, unsure, known, needs
        self._use_engine()

    def _use_engine(self) -> None:
        self._engine_spec = _ScriptedEngine(self)
        self._async_engine_spec = AsyncDummyEngine(self._engine_spec)

    def copy(self, **kwargs):
        copied = super().copy(**kwargs)
        copied._use_engine()
        return copied


class _ScriptedEngine(DummyEngine):
    def _complete_messages(self, messages):
        lm = self.owner
        fields = re.findall(r"`(\w+)`", _OUTPUTS.search(messages[0]["content"]).group(1))
        if not set(lm.unsure) <= set(fields):
            return self._reply({name: f"A {name} the test model wrote." for name in fields})
        demos = "".join(message["content"] for message in messages[1:-1])
        prompt = messages[0]["content"] + demos
        key = next((k for k in lm.replies if k in messages[-1]["content"]), None)
        if key in lm.known or (key and (lm.needs in prompt if lm.needs else demos)):
            return self._reply(lm.replies[key])
        return self._reply(lm.unsure)

    def _reply(self, fields: dict) -> Response:
        text = self.owner._format_answer_fields(fields)
        return Response(id=None, model="dummy", message=Message.assistant([TextPart(text)]), finish_reason="stop",
                        usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0))
