"""An MCP server written for the 1.x line (FastMCP), over stdio: run with mcp1_python()."""

from mcp.server.fastmcp import FastMCP

server = FastMCP("demo-v1")


@server.tool()
def shout(text: str) -> str:
    """Say the text back, loudly."""
    return text.upper()


if __name__ == "__main__":
    server.run()
