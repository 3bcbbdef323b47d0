"""Between model and executor: take the one JSON object out of the text and validate it."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from app.planner.output import PlannerOutput
from app.validation_errors import error_lines

FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class PlanRejected(Exception):
    """The model's text is not a valid plan; the message is what the model is told."""


def extract_json(text: str) -> str:
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    start = text.find("{")
    if start < 0:
        raise PlanRejected("the answer contains no JSON object")
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise PlanRejected(f"the JSON object is malformed: {exc.msg} at position {exc.pos}") from None
    rest = text[end:].strip()
    if rest.startswith("{"):
        raise PlanRejected("the answer contains more than one JSON object; send exactly one")
    return text[start:end]


def parse_plan(text: str) -> PlannerOutput:
    candidate = extract_json(text)
    try:
        return PlannerOutput.model_validate_json(candidate)
    except ValidationError as exc:
        problems = "; ".join(error_lines(exc, root="plan"))
        raise PlanRejected(f"the plan does not match the schema: {problems}") from None
