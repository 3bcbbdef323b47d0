"""The client side's sessions: one long-lived session per MCP server per process, owned by
one background asyncio loop (the executor is synchronous, in threads). A server is started
(or connected to) at its first call and kept; one that dies, hangs or answers garbage is
dropped and started again at the next call. Every failure reaches the caller as a ToolError
naming the server, never as anything else."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from app.config import Settings
from app.tools import sandbox
from app.tools.errors import ToolError
from app.tools.operator_file import McpServer

log = logging.getLogger("llm_planner.mcp")
START_TIMEOUT = 20.0  # a server's start (or connection) and MCP's handshake, at most


def _server_launch(server: McpServer, settings: Settings) -> StdioServerParameters:
    """A command server starts inside the sandbox like every process a tool starts: the
    workspace its only writable folder, no network, the service's environment scrubbed
    (only the server's own `env` added). SandboxUnavailable (a tool error) when it cannot."""
    launch = sandbox.wrap(list(server.command), Path(settings.workspace_root), network=False,
                          settings=settings, env=server.resolved_env())
    return StdioServerParameters(command=launch.argv[0], args=launch.argv[1:], env=launch.env, cwd=launch.cwd)


def definition(tool: Any) -> dict[str, Any]:
    """What is pinned of a tool: its name, description and input schema."""
    return {"name": tool.name, "description": tool.description or "", "inputSchema": tool.input_schema}


@dataclass
class _Live:
    stop: asyncio.Event
    client: Any = None
    dead: bool = False
    task: asyncio.Task | None = field(default=None, repr=False)


class Connections:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._starting: dict[str, asyncio.Lock] = {}

    # -- what callers use (any thread) ---------------------------------------------------

    def list_tools(self, name: str, server: McpServer, timeout: float, budget: float | None = None
                   ) -> list[dict[str, Any]]:
        return self.run(name, server, _all_tools, timeout, budget or START_TIMEOUT + timeout)

    def run(self, name: str, server: McpServer, work: Callable[[Any], Awaitable[Any]], timeout: float,
            budget: float) -> Any:
        """`work(client)` on the server's session: `timeout` seconds for the work itself, and
        `budget` in all, starting the server included (a process start is slower than a call)."""
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._call(name, server, work, timeout, budget), loop)
        try:
            return future.result(budget + 10)  # the coroutine keeps its own deadlines
        except concurrent.futures.TimeoutError:
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            future.cancel()
            raise ToolError(f"MCP server {name} did not answer within {timeout:g}s") from None

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(10)
        except Exception:  # closing is best effort: the processes end with our stdin closed
            log.warning("MCP sessions did not close cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        self._loop = None

    # -- the loop's side -----------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mcp-sessions", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _call(self, name: str, server: McpServer, work, timeout: float, budget: float) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    client = await self._client(name, server)
            except TimeoutError:
                await self._drop(name)
                raise ToolError(f"MCP server {name} did not start (or answer MCP's handshake) within "
                                f"{budget:g}s") from None
            async with asyncio.timeout_at(min(deadline, loop.time() + timeout)):
                try:
                    return await work(client)
                except MCPError as exc:
                    if exc.error.code != CONNECTION_CLOSED:  # an answer (a JSON-RPC error): the session is fine
                        raise ToolError(f"MCP server {name} refused the call: {exc}") from None
                    raise ConnectionError("the server closed the connection (it ended?)") from None
        except ToolError:
            raise
        except TimeoutError:
            await self._drop(name)
            raise ToolError(f"MCP server {name} did not answer within {timeout:g}s; "
                            "it is started again at the next call") from None
        except Exception as exc:
            await self._drop(name)
            raise ToolError(f"MCP server {name} failed ({_describe(exc)}); "
                            "it is started again at the next call") from None

    async def _client(self, name: str, server: McpServer) -> Any:
        live = self._live.get(name)
        if live is not None and not live.dead:
            return live.client
        lock = self._starting.setdefault(name, asyncio.Lock())
        async with lock:
            live = self._live.get(name)
            if live is not None and not live.dead:
                return live.client
            live = _Live(stop=asyncio.Event())
            ready = asyncio.get_running_loop().create_future()
            live.task = asyncio.create_task(self._keep(name, server, live, ready), name=f"mcp-{name}")
            self._live[name] = live
            return await asyncio.shield(ready)

    async def _keep(self, name: str, server: McpServer, live: _Live, ready: asyncio.Future) -> None:
        """Owns the session from start to end: anyio's scopes are left in the task that
        entered them."""
        try:
            async with AsyncExitStack() as stack:
                transport = await self._transport(stack, server)
                client = await stack.enter_async_context(Client(transport, cache=None))
                live.client = client
                ready.set_result(client)
                log.info("MCP server %s connected", name)
                await live.stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError("stopped"))
            elif not live.stop.is_set():
                log.warning("MCP server %s: its session ended (%s)", name, _describe(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            live.dead = True

    async def _transport(self, stack: AsyncExitStack, server: McpServer) -> Any:
        if server.url is not None:
            http = await stack.enter_async_context(httpx2.AsyncClient(
                headers=server.resolved_headers(), timeout=httpx2.Timeout(server.timeout)))
            return streamable_http_client(server.url, http_client=http)
        return _server_launch(server, self.settings)

    async def _drop(self, name: str, wait: bool = False) -> None:
        """Forget the session and let its keeper end it (a caller does not wait for that: the
        next call starts a new one meanwhile)."""
        live = self._live.pop(name, None)
        if live is None:
            return
        live.dead = True
        live.stop.set()
        if live.client is None and live.task is not None:
            live.task.cancel()  # still starting (a handshake that never completes): stop trying
        if wait and live.task is not None:
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(live.task)
            except BaseException:  # a process that will not stop is left to the kernel
                pass

    async def _close_all(self) -> None:
        for name in list(self._live):
            await self._drop(name, wait=True)


async def _all_tools(client: Any) -> list[dict[str, Any]]:
    found, cursor = [], None
    for _ in range(100):  # a paginator that never ends cannot hold a call forever
        page = await client.list_tools(cursor=cursor)
        found += [definition(tool) for tool in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    return found


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
