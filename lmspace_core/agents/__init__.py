"""DSPy agents over a space: grounded question answering (and, with its issue, codebase research)."""
