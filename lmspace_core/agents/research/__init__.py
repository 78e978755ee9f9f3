"""DSPy side of codebase research: the planner, the isolated-context subagents of the map strategy, the researcher."""
