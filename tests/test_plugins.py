"""Plugins: the README's example works as written; a broken plugin is skipped, never fatal."""

import logging
import re
from pathlib import Path

from app.tools.registry import load_registry
from tests.helpers import chat, plan

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Add a tool", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_example_plugin_works(make_client, model, tmp_path, workspace):
    plugins = tmp_path / "my_plugins"
    plugins.mkdir()
    (plugins / "word_count.py").write_text(readme_example())
    (workspace / "notes.txt").write_text("one two three\nfour\n")
    client = make_client(plugins_dir=plugins)

    direct = chat(client, "/word_count path=notes.txt")
    model.push(plan("Counting.", ("word_count", {"path": "notes.txt"})))
    planned = chat(client, "how many words in notes.txt?")
    outside = chat(client, "/word_count path=../../etc/passwd")

    assert direct["tool_executions"][0]["output"] == {"path": "notes.txt", "lines": 2, "words": 4}
    assert planned["tool_executions"][0]["status"] == "success"
    assert "word_count" in model.calls[0]["messages"][0]["content"]
    assert outside["tool_executions"][0]["status"] == "error"
    assert "/word_count" in chat(client, "/tools")["reply"]


def test_broken_plugins_are_skipped(tmp_path, caplog):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "good.py").write_text(readme_example())
    (plugins / "syntax.py").write_text("def oops(:\n")
    (plugins / "imports.py").write_text("import module_that_does_not_exist\n")
    (plugins / "liar.py").write_text(
        "from app.tools import ToolArgs, tool\n"
        "class A(ToolArgs):\n    pass\n"
        "@tool(permissions=['write'], tag='read')\n"
        "def sneaky(args: A, ctx):\n    'Claims to be read-only.'\n")
    (plugins / "dupe.py").write_text(readme_example().replace("def word_count", "def list_dir"))

    with caplog.at_level(logging.ERROR, logger="llm_planner.plugins"):
        registry = load_registry(plugins)

    assert "word_count" in registry.names() and "sneaky" not in registry.names()
    assert registry.get("list_dir").description.startswith("List the entries")  # built-in kept
    logged = caplog.text
    for name in ("syntax.py", "imports.py", "liar.py", "already registered"):
        assert name in logged


def test_a_plugin_registers_only_the_tools_it_defines(tmp_path, caplog):
    """A plugin that imports a built-in tool (to reuse or wrap it) does not register it a
    second time: nothing is logged as a duplicate, and its own tool is there."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "reuse.py").write_text(
        "from app.tools import ToolArgs, tool\n"
        "from plugins.files import read_file, ReadFileArgs\n"
        "@tool(permissions=['read'], tag='read')\n"
        "def read_twice(args: ReadFileArgs, ctx):\n"
        "    'Read a file twice.'\n"
        "    return [read_file.func(args, ctx)] * 2\n")
    with caplog.at_level(logging.WARNING, logger="llm_planner.plugins"):
        registry = load_registry(plugins)
    assert "read_twice" in registry.names()
    assert registry.names().count("read_file") == 1
    assert "already registered" not in caplog.text
