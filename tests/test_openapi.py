"""The OpenAPI document tells the truth: Schemathesis sends generated requests to the app
in-process, with the right key on each keyed route, and every answer must be documented
(status, content type, body schema); none may be a server error except a documented 503."""

import tempfile
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app
from tests.helpers import TEST_SECRET, plan

KEYS = {"AGENT_API_KEY": "agent-key-for-schemathesis", "INTERNAL_API_KEY": "internal-key-for-schemathesis",
        "ADMIN_API_KEY": "admin-key-for-schemathesis"}
KEYED = {"/agent": "AGENT_API_KEY", "/agent/run": "AGENT_API_KEY", "/wa/agent": "INTERNAL_API_KEY",
         "/audit": "ADMIN_API_KEY"}
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "unsupported_method", "allow_header_conformance")

CONFIG = {
    "seed": 20261201,
    "generation": {"max-examples": 15, "database": "none"},
    "phases": {"coverage": {"unexpected-methods": ["OPTIONS", "DELETE"]}, "stateful": {"enabled": False}},
    # A 5xx other than 503 always fails; status_code_conformance fails a 503 where it is not documented.
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS},
               "not_a_server_error": {"enabled": True, "expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
    "operations": [*({"include-path": path, "headers": {"x-api-key": KEYS[key]}} for path, key in KEYED.items()),
                   {"include-path-regex": "^/api/", "headers": {"x-api-key": KEYS["AGENT_API_KEY"]}}],
}


def _document() -> dict:
    """The app's OpenAPI document: it depends on the routes, not on the settings or the data.
    (Loaded here rather than from a fixture: schemathesis' `from_fixture` fails under pytest 9.2.)"""
    workspace = tempfile.mkdtemp(prefix="openapi-")
    return create_app(Settings(_env_file=None, db_url="sqlite://", confirm_secret=TEST_SECRET,
                               workspace_root=workspace, data_dir=workspace)).openapi()


schema = schemathesis.openapi.from_dict(_document(), config=schemathesis.Config.from_dict(CONFIG))


@pytest.fixture
def app(make_client):
    return make_client(
        model_=ScriptedModel(plan("ok"), repeat_last=True, record=False),
        agent_api_key=KEYS["AGENT_API_KEY"], internal_api_key=KEYS["INTERNAL_API_KEY"],
        admin_api_key=KEYS["ADMIN_API_KEY"], provider_hmac_secret="whsec_c2NoZW1hdGhlc2lz",
        meta_app_secret="meta-secret", meta_verify_token="meta-token", twilio_auth_token="twilio-token",
        # Low enough that the later examples of a route meet the limit, and its 429 is checked too.
        rate_limit_enabled=True, rate_limit_requests=10, rate_limit_namespace=uuid.uuid4().hex).app


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_answer_is_documented(case, app):
    case.call_and_validate(app=app)
