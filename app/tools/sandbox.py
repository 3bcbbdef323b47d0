"""Placeholder: replaced by the sandbox work (the real `probe` checks that the sandbox the
tools that start processes run in works). Here so `llm-planner doctor` runs on this branch."""


def probe(settings) -> str | None:
    """What is wrong with the sandbox, with its fix; None when it works."""
    return None
