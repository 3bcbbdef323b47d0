# Not built in this project's CI (no Docker engine there); kept small so it can be checked by reading.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 \
    HOST=0.0.0.0 PORT=8000 DB_URL=sqlite:////app/data/agent.db WORKSPACE_ROOT=/app/workspace \
    DATA_DIR=/app/data PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir uv \
 && useradd --create-home --uid 10001 agent

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY plugins ./plugins
COPY prompts ./prompts
COPY migrations ./migrations
COPY evals ./evals
# .env.example: the service refuses keys copied from it, so it reads the file it shipped with.
COPY .env.example operator.example.toml alembic.ini ./
RUN uv sync --frozen --no-dev \
 && mkdir -p /app/data /app/workspace \
 && chown -R agent:agent /app/data /app/workspace

USER agent
EXPOSE 8000
VOLUME ["/app/data", "/app/workspace"]
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/health')"
# Migrate before serve: a no-op when the schema is current. A data folder this user cannot
# write (a bind mount owned by another uid) stops both with a message saying what to run.
CMD ["sh", "-c", "llm-planner migrate && exec llm-planner serve"]
