"""The built-in tools: ordinary plugins, registered through the same entry point group."""
