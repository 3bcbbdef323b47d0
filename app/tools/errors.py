"""The two errors of the plugin API."""


class ToolError(Exception):
    """Raised by a tool for a failure the user should read as it is."""


class BadToolDeclaration(ValueError):
    """A tool declared wrongly: its plugin is skipped, with this message in the log."""
