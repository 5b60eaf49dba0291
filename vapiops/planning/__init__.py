"""Pure planning: the ownership diff, the reference graph, the planner, drift and env comparison. No I/O."""
