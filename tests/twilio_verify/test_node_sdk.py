"""The official Twilio Node SDK (major versions 4, 5 and 6, pinned by tests/node/package-lock.json
and installed by `scripts/otp setup`) reads its Verify service from the running service."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.twilio_verify.conftest import ACCOUNT, SERVICE, TOKEN, TwilioFactory

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SECOND_SERVICE = "VA" + "1f" * 16


@pytest.mark.parametrize("sdk", ["twilio4", "twilio5", "twilio6"])
def test_the_node_sdk_fetches_and_lists_services(make_twilio: TwilioFactory, sdk: str) -> None:
    node = shutil.which("node")
    assert node, "node is required (Debian: apt-get install nodejs npm)"
    assert (NODE_DIR / "node_modules" / sdk).is_dir(), "run scripts/otp setup (npm ci)"
    services = {
        SERVICE: {"account": ACCOUNT, "code_length": 4, "friendly_name": "Acme"},
        SECOND_SERVICE: {"account": ACCOUNT},
    }
    with make_twilio(OTP_TWILIO_SERVICES=json.dumps(services)) as twilio:
        run = subprocess.run(
            [node, "verify_services.js", sdk, twilio.base_url, ACCOUNT, TOKEN, SERVICE],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},  # no TWILIO_EDGE / TWILIO_REGION to rewrite hosts
        )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["version"].split(".")[0] == sdk.removeprefix("twilio")
    assert seen["service"] == {
        "sid": SERVICE,
        "accountSid": ACCOUNT,
        "friendlyName": "Acme",
        "codeLength": 4,
        "lookupEnabled": False,
        "url": f"{twilio.base_url}/v2/Services/{SERVICE}",
        "links": seen["service"]["links"],
    }
    assert seen["service"]["links"]["verifications"].endswith(f"/{SERVICE}/Verifications")
    # page size 1: the SDK followed next_page_url to the second page
    assert sorted(seen["listed"]) == sorted([SERVICE, SECOND_SERVICE])
    assert seen["unknown"] == {"status": 404, "code": 20404}
