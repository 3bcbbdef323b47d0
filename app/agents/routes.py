"""The agents' routes: profiles and their tasks (AGENT_API_KEY), a chat turn with one agent
(as `/agent`), their services (ADMIN_API_KEY), routing a text, and agent cards."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from app import __version__
from app.agents.profiles import NAME_PATTERN
from app.agents.service import agent_card
from app.channel import Channel
from app.channels.bodies import ChatRequest
from app.conversations.schemas import AgentResponse
from app.http.bodies import error_responses
from app.http.deps import (
    RuntimeDep,
    admin_key,
    agent_key_optional,
    agent_key_required,
    api_key_name,
    client_scopes,
    enforce_rate,
    json_reply,
    off_loop,
)
from app.tasks.schemas import Task

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class AgentName(Convertor):
    """An agent's name in a path, never `discover`: `/api/agents/discover` is its own route
    (POST), and a GET there is not an agent named so (profiles refuse the name)."""
    regex = r"(?!discover/|discover$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("agent", AgentName())


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["available", "offline"]


class LaunchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[Name] = Field(..., min_length=1, max_length=200)
    resources: dict[str, dict[str, Any]] | None = None


class StopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[Name] = Field(..., min_length=1, max_length=200)


class Service(BaseModel):
    name: str
    status: Literal["starting", "running", "stopping", "stopped", "failed"]
    port: int | None
    pid: int | None
    url: str | None
    started_at: datetime | None
    restarts: int
    error: str | None = None  # why it failed, when it did


class Services(BaseModel):
    agents: list[Service]


class Agent(BaseModel):
    name: str
    description: str
    provider: str
    model: str | None
    tools: list[str]
    min_complexity: int
    max_complexity: int
    max_tasks: int | None
    port: int | None
    workspace: str | None
    status: Literal["available", "busy", "offline"]
    running_tasks: int
    last_active: datetime | None
    service: Service | None


class AgentList(BaseModel):
    agents: list[Agent]


class AgentTasks(BaseModel):
    tasks: list[Task]


class Logs(BaseModel):
    name: str
    lines: list[str]


class TextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=20000)


class Route(BaseModel):
    agent: str
    reason: str


class Instruction(BaseModel):
    text: str
    agent: str


api = APIRouter(prefix="/api", tags=["agents"], responses=error_responses(400, 401, 404, 413, 422, 503))
user = [Depends(agent_key_required)]
admin = [Depends(admin_key)]


@api.get("/agents", response_model=AgentList, dependencies=user)
def list_agents(runtime: RuntimeDep) -> dict:
    return {"agents": runtime.agents.list()}


@api.post("/agents/discover", response_model=Services, dependencies=admin)
def discover(runtime: RuntimeDep) -> dict:
    return {"agents": runtime.agents.discover()}


@api.get("/agents/{name:agent}", response_model=Agent, dependencies=user)
def get_agent(name: str, runtime: RuntimeDep) -> dict:
    return runtime.agents.get(name)


@api.put("/agents/{name:agent}/status", response_model=Agent, dependencies=admin)
def set_status(name: str, body: StatusBody, runtime: RuntimeDep) -> dict:
    return runtime.agents.set_status(name, body.status)


@api.get("/agents/{name:agent}/tasks", response_model=AgentTasks, dependencies=user)
def agent_tasks(name: str, runtime: RuntimeDep,
                limit: Annotated[int, Query(ge=1, le=200)] = 200) -> dict:
    return {"tasks": runtime.agents.tasks(name, limit)}


@api.get("/agents/{name:agent}/logs", response_model=Logs, dependencies=admin)
def agent_logs(name: str, runtime: RuntimeDep, lines: Annotated[int, Query(ge=1, le=10000)] = 200) -> dict:
    return {"name": name, "lines": runtime.agents.logs(name, lines)}


@api.post("/launch_agents", response_model=Services, dependencies=admin)
def launch_agents(body: LaunchBody, runtime: RuntimeDep) -> dict:
    return {"agents": runtime.agents.launch(body.agents, body.resources)}


@api.get("/list_agents", response_model=Services, dependencies=admin)
def list_services(runtime: RuntimeDep, name: Annotated[str | None, Query(max_length=64)] = None,
                  status: Annotated[str | None, Query(max_length=16)] = None) -> dict:
    return {"agents": runtime.agents.services(name, status)}


@api.post("/stop_agent", response_model=Services, dependencies=admin)
def stop_agent(runtime: RuntimeDep, body: StopBody | None = None,
               agent_name: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None) -> dict:
    names = list(body.agents) if body is not None else []
    if agent_name:
        names.append(agent_name)
    if not names:
        from app.agents.service import AgentError
        raise AgentError(422, 'name the agents to stop: {"agents": [names]} or ?agent_name=')
    return {"agents": runtime.agents.stop(names)}


@api.post("/route", response_model=Route, dependencies=user)
def route(body: TextBody, runtime: RuntimeDep) -> dict:
    return runtime.agents.route(body.text)


@api.post("/instructions", response_model=Instruction, dependencies=user)
def instructions(body: TextBody, runtime: RuntimeDep) -> dict:
    return runtime.agents.instructions(body.text)


# -- a turn with one agent, and the cards ---------------------------------------------

chat = APIRouter(tags=["agents"])


@chat.post("/agents/{name:agent}/agent", response_model=AgentResponse, dependencies=[Depends(agent_key_optional)],
           responses=error_responses(400, 401, 404, 413, 422, 429))
async def agent_turn(name: str, body: ChatRequest, request: Request, response: Response,
                     runtime: RuntimeDep) -> Response:
    runtime.agents.profile(name)  # 404 before anything is counted
    return await off_loop(runtime, _turn, runtime, name, request, response, body)


def _turn(runtime, name: str, request: Request, response: Response, body: ChatRequest) -> Response:
    enforce_rate(request, response, runtime,
                 client_scopes(request) + [("session", f"{Channel.WEB}:{name}:{body.session_id}")])
    return json_reply(runtime.agents.answer(name, Channel.WEB, body.session_id, body.message,
                                            api_key_name(request)), response)


@chat.get("/agents/{name:agent}/.well-known/agent-card.json", responses=error_responses(404))
def agent_card_of(name: str, request: Request, runtime: RuntimeDep) -> dict:
    with runtime.engine.connect() as conn:
        from app.agents import repository
        service = repository.service(conn, name)
    url = service.url if service is not None and service.status in ("starting", "running") and service.url \
        else f"{str(request.base_url).rstrip('/')}/agents/{name}"
    return runtime.agents.card(name, url)


@chat.get("/.well-known/agent-card.json", responses=error_responses())
def own_card(request: Request, runtime: RuntimeDep) -> dict:
    url = str(request.base_url).rstrip("/")
    name = runtime.settings.agent_name
    if name:
        return runtime.agents.card(name, url)
    return agent_card("llm-planner", "A planner agent service: one JSON plan per message, allowlisted tools, "
                      "writes behind a confirmation", url, runtime.registry,
                      runtime.settings.agent_api_key is not None)


# -- what only an agent's own service (`serve --agent NAME`) serves ----------------------

service = APIRouter(tags=["agent service"])
STARTED = time.monotonic()


@service.get("/", responses=error_responses())
def about(runtime: RuntimeDep) -> dict:
    profile = runtime.agents.profile(runtime.settings.agent_name)
    return {"name": profile.name, "description": profile.description, "version": __version__}


@service.get("/status", responses=error_responses())
def status(runtime: RuntimeDep) -> dict:
    name = runtime.settings.agent_name
    try:
        runtime.conversations.deps.planner.model.ping()
        reachable = True
    except Exception:
        reachable = False
    return {"name": name, "uptime_sec": round(time.monotonic() - STARTED, 1),
            "tasks_running": len(runtime.task_worker.running), "turns_served": getattr(runtime.conversations, "served", 0),
            "model_reachable": reachable}


@service.post("/shutdown", dependencies=admin, status_code=202, responses=error_responses(401, 503))
def shutdown(runtime: RuntimeDep, background: BackgroundTasks) -> dict:
    """A graceful stop, asked by someone holding the admin key: recorded `stopped` first, so
    its supervisor does not start it again."""
    import os
    import signal

    from app.agents import repository
    name = runtime.settings.agent_name
    with runtime.engine.begin() as conn:
        row = repository.service(conn, name)
        if row is not None and row.pid == os.getpid():  # this very process is the one recorded
            repository.update_service(conn, name, status="stopping")
    background.add_task(os.kill, os.getpid(), signal.SIGTERM)
    return {"name": name, "status": "stopping"}
