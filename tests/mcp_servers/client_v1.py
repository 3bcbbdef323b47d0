"""An MCP 1.x client (run with a venv holding `mcp<2`): lists our tools over /mcp, calls a read
tool and a write tool, and prints what it got as JSON."""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, key: str) -> None:
    async with streamablehttp_client(url, headers={"X-API-Key": key}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            listed = await session.call_tool("list_dir", {"path": "."})
            parked = await session.call_tool("write_file", {"path": "v1.txt", "content": "from 1.x"})
            print(json.dumps({"tools": [t.name for t in tools.tools],
                              "list_dir": [c.text for c in listed.content], "list_dir_error": listed.isError,
                              "parked": json.loads(parked.content[0].text), "parked_error": parked.isError}))


asyncio.run(main(sys.argv[1], sys.argv[2]))
