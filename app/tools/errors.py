"""The two errors of the plugin API."""


class ToolError(Exception):
    """Raised by a tool for a failure the user should read as it is. `output`: what the
    failed call still reports (e.g. `{"timed_out": true}` and what a process said)."""

    def __init__(self, message: str = "", output: dict | None = None) -> None:
        super().__init__(message)
        self.output = output


class BadToolDeclaration(ValueError):
    """A tool declared wrongly: its plugin is skipped, with this message in the log."""
