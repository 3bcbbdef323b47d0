"""The hot statements run on the driver's cursor (app/store/direct.py), inside SQLAlchemy's
transactions: they must commit, roll back and end their reads exactly as SQLAlchemy's own."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import event as sa_event

from app.audit import chain as audit
from app.audit import repository as audit_rows
from app.conversations import history as conversations
from app.store.db import create_db_engine
from app.store.tables import utcnow
from tests.helpers import rows


def _save(engine, session_id: str, text: str) -> None:
    with engine.begin() as conn:
        conversations.save_turn(conn, channel="web", session_id=session_id, request_id="r1",
                                user_text=text, assistant_text=f"re: {text}", facts={"n": text})


def test_a_read_sees_what_another_worker_wrote_since(backend, engine):
    """The read's transaction ends when its connection goes back to the pool: the next read
    on that pooled connection must not see the old snapshot (MariaDB's REPEATABLE READ)."""
    _, url, _ = backend
    reader, writer = create_db_engine(url), create_db_engine(url)
    try:
        _save(writer, "shared", "first")
        with reader.connect() as conn:
            facts, history = conversations.load_context(conn, "web", "shared", 6)
        assert facts == {"n": "first"} and [t for _, t in history] == ["first", "re: first"]
        _save(writer, "shared", "second")
        with reader.connect() as conn:  # the pool hands back the same connection
            facts, history = conversations.load_context(conn, "web", "shared", 6)
        assert facts == {"n": "second"}
        assert [t for _, t in history] == ["first", "re: first", "second", "re: second"]
    finally:
        reader.dispose()
        writer.dispose()


def test_the_history_read_leaves_no_transaction_open(backend, engine):
    """The history is read on the driver's cursor (app/store/direct.py), outside SQLAlchemy's
    statement machinery: it must still never leave a transaction (an old snapshot) open on a
    pooled connection, or the next turn on it would not see what another worker wrote."""
    kind, url, _ = backend
    main = create_db_engine(url)
    try:
        _save(main, "r", "first")
        with main.connect() as conn:
            conversations.load_context(conn, "web", "r", 6)
            connection_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar() if kind == "mysql" else None
        if kind == "mysql":
            with create_db_engine(url).connect() as probe:
                still_open = probe.exec_driver_sql(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s",
                    (connection_id,)).scalar()
            assert still_open == 0
        _save(main, "r", "second")
        with main.connect() as conn:
            facts, history = conversations.load_context(conn, "web", "r", 6)
        assert facts == {"n": "second"} and len(history) == 4
    finally:
        main.dispose()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # a file has no connection to lose
def test_a_connection_the_server_dropped_fails_one_request_only(backend, engine):
    """The hot statements bypass SQLAlchemy's error handling, so they must drop a dead
    connection themselves, or every pooled connection killed with it fails a request."""
    _, url, _ = backend
    main = create_db_engine(url)
    try:
        _save(main, "gone", "first")
        held = [main.connect() for _ in range(2)]  # two idle connections in the pool
        ids = [c.exec_driver_sql("SELECT CONNECTION_ID()").scalar() for c in held]
        for c in held:
            c.close()
        with create_db_engine(url).connect() as killer:  # the server restarts, say
            for connection_id in ids:
                killer.exec_driver_sql(f"KILL CONNECTION {int(connection_id)}")
        time.sleep(0.2)  # the kill is asynchronous
        failures = 0
        for _ in range(4):
            try:
                with main.begin() as conn:
                    conversations.load_context(conn, "web", "gone", 6)
                    conversations.save_turn(conn, channel="web", session_id="gone", request_id="r2",
                                            user_text="again", assistant_text="re", facts=None)
            except Exception:
                failures += 1
        assert failures <= 1, f"{failures} requests failed on connections already known dead"
    finally:
        main.dispose()


def test_a_failed_statement_rolls_back_the_whole_turn(engine):
    """Messages written on the cursor and audit events refused by the database: neither is kept."""
    event = {"request_id": "r1", "session_id": "s1", "channel": "web", "kind": None, "data": "{}",
             "created_at": utcnow(), "prev_hash": audit.GENESIS, "hash": "x" * 64}
    with pytest.raises(Exception), engine.begin() as conn:
        conversations.save_turn(conn, channel="web", session_id="s1", request_id="r1",
                                user_text="hello", assistant_text="hi", facts=None)
        audit_rows.append(conn, [event], lambda prev, events: "x" * 64)  # kind is NOT NULL
    assert rows(engine, "messages") == [] and rows(engine, "audit_events") == []
    assert rows(engine, "sessions") == []


def test_history_is_cut_and_ordered_oldest_first(engine):
    for n in range(5):
        _save(engine, "long", f"message {n} " + "x" * 50)
    with engine.connect() as conn:
        _, history = conversations.load_context(conn, "web", "long", 2, chars=10)
    assert history == [("user", "message 3 "), ("assistant", "re: messag"),
                       ("user", "message 4 "), ("assistant", "re: messag")]


def test_first_turns_of_a_new_session_at_once_are_all_stored(backend, engine):
    """Several first messages of one new session, stored at the same moment (a double send,
    two workers): every turn is kept, one session row, and no deadlock turns one of them
    into an error (an UPDATE that finds no row locks the gap the INSERTs then need)."""
    _, url, _ = backend
    workers = [create_db_engine(url) for _ in range(6)]
    try:
        for round_ in range(8):
            session_id = f"new-{round_}"
            start = threading.Barrier(len(workers))

            def first_turn(worker, n):
                start.wait()
                with worker.begin() as conn:
                    conversations.save_turn(conn, channel="web", session_id=session_id, request_id=f"r{n}",
                                            user_text=f"hello {n}", assistant_text="hi",
                                            facts={"n": n} if n % 2 else None)

            with ThreadPoolExecutor(len(workers)) as pool:
                list(pool.map(first_turn, workers, range(len(workers))))
            assert len(rows(engine, "sessions", session_id=session_id)) == 1
            assert len(rows(engine, "messages", session_id=session_id)) == 2 * len(workers)
    finally:
        for worker in workers:
            worker.dispose()


NASTY = ["'); DROP TABLE messages; --", 'say "hi"', "back\\slash\\", "nul\0byte", "ctrl-z\x1a",
         "lines\r\nand\n", "\\'", "\\\"", "é中文🙂", '{"a": "b\\"c"}', "%s %(x)s", ""]


def test_any_text_is_stored_as_given_and_runs_nothing(backend, engine):
    """Messages and audit rows go through the driver's escaping: an
    injection attempt is stored as text, and the tables are all still there. Under the
    server's NO_BACKSLASH_ESCAPES mode PyMySQL's own escaping is used, and holds as well."""
    kind, url, _ = backend
    for no_backslash_escapes in [False, True] if kind == "mysql" else [False]:
        _store_and_read_back(engine, url, kind, no_backslash_escapes)


def _store_and_read_back(engine, url: str, kind: str, no_backslash_escapes: bool) -> None:
    from pymysql.constants import SERVER_STATUS
    tag = f"nasty-{int(no_backslash_escapes)}"
    writer = create_db_engine(url)
    try:
        with writer.begin() as conn:
            if no_backslash_escapes:
                conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
                assert conn.connection.dbapi_connection.server_status & \
                    SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES
            for n, text in enumerate(NASTY):
                conversations.save_turn(conn, channel="web", session_id=f"{tag}-{n}", request_id="r1",
                                        user_text=text, assistant_text=text + "!", facts={"t": text})
            trail = audit.AuditTrail("r1", "web", tag)
            for text in NASTY:
                trail.add("request", text=text)
            trail.flush(conn)
            if no_backslash_escapes:
                conn.exec_driver_sql("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        for n, text in enumerate(NASTY):
            with engine.connect() as conn:
                facts, history = conversations.load_context(conn, "web", f"{tag}-{n}", 6)
            assert facts == {"t": text}
            if kind == "sqlite" and "\0" in text:
                continue  # SQLite's substr() (the history's cut) stops at a NUL character
            assert history == [("user", text), ("assistant", text + "!")]
        assert [r["data"]["text"] for r in rows(engine, "audit_events", session_id=tag)] == NASTY
        assert audit.verify(engine)[1] is None
    finally:
        writer.dispose()


@contextmanager
def _holding_the_audit_head(engine, seconds: float = 1.5):
    """Another transaction holds the audit head's row lock for `seconds` (past one lock wait
    of a 1 s timeout, not two) while the block runs."""
    holding, released = threading.Event(), threading.Event()

    def hold():
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT last_hash FROM audit_head WHERE id = 1 FOR UPDATE")
            holding.set()
            time.sleep(seconds)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        holder.join()
    assert released.is_set()


def _turns_counted() -> float:
    from app.observability.metrics import REGISTRY
    return sum(REGISTRY.get_sample_value("llm_planner_turns_total", {"channel": "web", "status": status}) or 0
               for status in ("success", "awaiting_confirmation", "tool_error", "error"))


def _impatient_runtime(url: str, make_settings, model):
    """A runtime whose connections wait 1 s for a row lock (InnoDB's default is 50)."""
    from app.runtime import Runtime
    turn_engine = create_db_engine(url)

    @sa_event.listens_for(turn_engine, "connect")
    def short_waits(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")

    return Runtime(make_settings(), engine=turn_engine, model=model)


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # InnoDB's lock waits
@pytest.mark.parametrize("call", [("list_dir", {"path": "."}), ("write_file", {"path": "a.txt", "content": "x"})])
def test_a_turn_whose_store_meets_a_lock_timeout_is_stored_once_on_a_second_try(
        backend, engine, make_settings, model, caplog, workspace, call):
    """Another transaction holds the audit head past the turn's lock wait: InnoDB gives the
    turn's transaction up (1205), and the turn stores itself again, once, instead of
    answering "internal error" after its tool has run."""
    from app.conversations.message import Message
    from tests.helpers import plan
    _, url, _ = backend
    runtime = _impatient_runtime(url, make_settings, model)
    model.push(plan("Here.", call))
    turns_before = _turns_counted()
    with _holding_the_audit_head(engine), caplog.at_level("WARNING", logger="llm_planner.turn"):
        answer = runtime.conversations.answer(Message("web", "busy", "what is here?"))
    assert any("trying again" in r.getMessage() for r in caplog.records)
    assert _turns_counted() - turns_before == 1  # the metrics count what the audit trail holds
    if call[0] == "write_file":  # parked once, with the token the answer names
        assert answer.status == "awaiting_confirmation" and len(answer.confirmations) == 1
        assert len(rows(engine, "pending_confirmations")) == 1
        confirmed = runtime.conversations.answer(Message("web", "busy", f"confirm {answer.confirmations[0].token}"))
        assert confirmed.status == "success" and (workspace / "a.txt").read_text() == "x"
    else:
        assert answer.status == "success" and answer.tool_executions[0].status == "success"
    stored = rows(engine, "messages", request_id=answer.request_id)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    kinds = [e["kind"] for e in rows(engine, "audit_events", request_id=answer.request_id)]
    assert kinds.count("response") == 1 and "internal_error" not in kinds
    assert kinds.count("tool_execution" if call[0] == "list_dir" else "confirmation_requested") == 1
    assert audit.verify(engine)[1] is None
    runtime.engine.dispose()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # InnoDB's lock waits
def test_a_confirmation_taken_during_a_lock_timeout_runs_its_call_once(
        backend, engine, make_settings, model, caplog, workspace):
    """The token's consumption and its record commit together; given up by InnoDB, they are
    tried again, and the parked call runs once."""
    from app.conversations.message import Message
    from tests.helpers import plan
    _, url, _ = backend
    runtime = _impatient_runtime(url, make_settings, model)
    model.push(plan("Writing.", ("write_file", {"path": "b.txt", "content": "y"})))
    token = runtime.conversations.answer(Message("web", "busy", "write it")).confirmations[0].token
    with _holding_the_audit_head(engine), caplog.at_level("WARNING", logger="llm_planner.turn"):
        confirmed = runtime.conversations.answer(Message("web", "busy", f"confirm {token}"))
    assert any("trying again" in r.getMessage() for r in caplog.records)
    assert confirmed.status == "success" and (workspace / "b.txt").read_text() == "y"
    kinds = [e["kind"] for e in rows(engine, "audit_events", request_id=confirmed.request_id)]
    assert kinds.count("confirmation_consumed") == 1 and kinds.count("tool_execution") == 1
    again = runtime.conversations.answer(Message("web", "busy", f"confirm {token}"))
    assert again.status == "error" and again.tool_executions == []
    assert audit.verify(engine)[1] is None
    runtime.engine.dispose()
