"""The runtime: everything a turn needs, built once per process from the settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from app import metrics
from app.audit import record
from app.channels.meta_graph import MetaGraph
from app.config import Settings
from app.inbox import Delivery, Inbox
from app.confirmations import Confirmations
from app.executor.policy import load_policy
from app.executor.registry import ToolRegistry, load_registry
from app.executor.run import Executor
from app.executor.workspace import Workspace
from app.gate import GatedModel, TurnGate
from app.llm import ChatModel, build_model
from app.planner.planner import Planner
from app.ratelimit import RateLimits
from app.schemas import AgentResponse
from app.store.db import create_db_engine, reader_for
from app.texts import Texts
from app.turn import Message, Turn

log = logging.getLogger("llm_planner.agent")


class Agent:
    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 model: ChatModel | None = None, registry: ToolRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_db_engine(settings.db_url)
        self.reader = reader_for(self.engine)  # single-statement reads (the history)
        self.registry = registry or load_registry(settings.plugins_dir)
        metrics.KNOWN_TOOLS.update(self.registry.names())
        self.model = model or build_model(settings)
        self.gate = TurnGate(settings.turn_concurrency)
        self.gated_model = GatedModel(self.model, self.gate)
        self.workspace = Workspace(settings.workspace_root)
        self.policy = load_policy(settings.policy_file)
        self._views: dict[str, ToolRegistry] = {}
        self.executor = Executor(self.registry, settings.blocked, settings.max_tool_timeout,
                                 settings.max_output_size, self.policy, gate=self.gate)
        self.confirmations = Confirmations(settings.confirm_keys, settings.confirm_ttl_sec,
                                           settings.confirm_max_failures)
        self.planner = Planner(self.gated_model, self.registry, settings.planner_max_retries)
        self.texts = Texts(settings.reply_language)
        self.inbox = Inbox(self.engine, settings.inbox_lease_sec, settings.inbox_wait_sec)
        self.meta = MetaGraph(settings, self.texts)
        self.limits = RateLimits(settings)
        # Acknowledged deliveries are answered here, off the request: the connection that
        # brought one is free for the next at once. Stored first, so a crash loses nothing.
        self.background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="inbox")
        # Where HTTP routes run their turns (app.deps.off_loop): as many as AnyIO's default.
        self.request_threads = ThreadPoolExecutor(max_workers=40, thread_name_prefix="request")
        self._running: set[Future] = set()

    def tools_for(self, channel: str) -> ToolRegistry:
        """What the planner may offer on a channel: what the policy and permissions allow.
        One view per channel, kept: the prompt text built from it is cached with it."""
        view = self._views.get(channel)
        if view is None:
            view = self._views[channel] = self.registry.only(
                lambda name: self.policy.permits(channel, name)
                and not (self.registry.get(name).permissions & self.settings.blocked))
        return view

    def handle(self, msg: Message) -> AgentResponse:
        with self.gate.working():
            return Turn(self, msg).run()

    def process_delivery(self, delivery: Delivery) -> dict:
        """Run a stored inbound delivery, store its answer, and send it where the channel
        answers out of band (Meta)."""
        response = self.handle(Message(channel=delivery.channel, session_id=delivery.session_id,
                                       text=delivery.text, request_id=delivery.request_id))
        data = response.model_dump(mode="json")
        self.inbox.complete(delivery, data)
        if delivery.channel == "meta":
            try:
                sent = self.meta.send_response(delivery.session_id,
                                               (delivery.reply_to or {}).get("phone_number_id"), data)
                record(self.engine, "reply_sent", request_id=delivery.request_id, channel="meta",
                       session_id=delivery.session_id, messages=sent)
            except Exception as exc:  # the answer is stored either way; the failure is on record
                log.warning("could not send the reply for %s: %s", delivery.request_id, exc)
                record(self.engine, "reply_failed", request_id=delivery.request_id, channel="meta",
                       session_id=delivery.session_id, error=str(exc)[:300])
        return data

    def process_later(self, delivery: Delivery) -> None:
        future = self.background.submit(self.process_delivery, delivery)
        self._running.add(future)
        future.add_done_callback(self._running.discard)

    def drain(self, timeout: float = 30) -> bool:
        """Wait for acknowledged deliveries still being answered; True when none is left."""
        _, left = wait(list(self._running), timeout=timeout)
        return not left

    def recover_unfinished(self) -> int:
        """Finish deliveries a dead process acknowledged but never answered; once each."""
        done = 0
        try:
            for delivery in self.inbox.unfinished():
                if self.inbox.takeover(delivery):
                    record(self.engine, "delivery_recovered", request_id=delivery.request_id,
                           channel=delivery.channel, session_id=delivery.session_id,
                           message_id=delivery.message_id)
                    self.process_delivery(delivery)
                    done += 1
        except Exception:
            log.exception("recovering unfinished deliveries failed")
        return done
