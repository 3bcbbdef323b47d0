"""The ceiling: a bare FastAPI JSON endpoint (pydantic body, JSON reply) on the same server."""

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    message: str
    session_id: str


@app.post("/echo")
def echo(body: Body) -> dict:
    return {"session_id": body.session_id, "reply": body.message, "status": "success"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run("bench.bare:app", host="127.0.0.1", port=args.port, workers=args.workers, log_level="warning",
                access_log=False)
