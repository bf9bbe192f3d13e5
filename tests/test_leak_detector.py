"""The leak check's matcher (tests/support/leaks.py): finds real leaks, ignores look-alikes."""

from __future__ import annotations

import json

from tests.support.leaks import digit_tokens, find_leaks

CODE = "482915"
ID = "a1b2c3d4e5f60718" + "482915" + "0" * 10 + "f" * 32  # a 64-hex id holding the digits


def test_a_code_in_a_json_value_a_header_or_a_log_line_is_found() -> None:
    texts = [
        ("response", json.dumps({"id": "x", "detail": f"wrong code {CODE}"})),
        ("response", f"200\nx-debug: {CODE}\n\n{{}}"),
        ("log", json.dumps({"event": "provider.reply", "otp_code": CODE})),
        ("log", f"GET /api/v3/otp?code={CODE}&x=1"),
    ]
    assert len(find_leaks(texts, [CODE], [])) == 4


def test_look_alikes_are_not_leaks() -> None:
    texts = [
        ("response", json.dumps({"id": ID, "created_at": "2026-11-25T10:48:29Z"})),
        ("log", json.dumps({"timestamp": "2026-11-25T10:22:24.482915Z", "verification_id": ID})),
        ("log", "request_id=1f2e3d4c-4829-4829-8291-482915482915 url=http://127.0.0.1:48291/x"),
        ("response", json.dumps({"phone": "+90532123****", "local_sms": 4829150})),
        ("response", '429\nretry-after: 3600\n\n{"status":429,"retry_after":3600}'),
        ("response", json.dumps({"status": 429, "retry_after": 3600})),
    ]
    assert find_leaks(texts, [CODE, "4829", "3600"], []) == []


def test_secrets_are_found_anywhere() -> None:
    secret = "test-secret-" + "x" * 40
    texts = [("log", f"Authorization: Bearer{secret}")]
    assert find_leaks(texts, [], [secret]) != []


def test_digit_tokens_keeps_only_standalone_runs() -> None:
    assert digit_tokens("code 123456, 1234567 x12345 ab123456") == {"123456", "1234567"}


def test_a_body_length_or_a_provider_result_code_is_not_a_code() -> None:
    text = 'content-length: 4828\n{"result_code":"TS-1040"}'
    assert find_leaks([("log", text)], ["4828", "1040"], []) == []
    assert find_leaks([("log", text + " code=4828")], ["4828"], []) != []


def test_a_decimal_is_not_a_code() -> None:
    text = '{"expires_in_seconds":3599.972}'
    assert find_leaks([("response", text)], ["3599"], []) == []
    assert find_leaks([("response", text + ' "code": "3599"')], ["3599"], []) != []


def test_a_providers_sms_balance_is_not_a_code() -> None:
    text = '{"providers":[{"name":"backup","balance_sms":9999,"low_balance":false}]}'
    assert find_leaks([("response", text)], ["9999"], []) == []
    assert find_leaks([("response", text + ' "code": "9999"')], ["9999"], []) != []


def test_the_balance_endpoints_sms_count_is_not_a_code() -> None:
    text = '{"local_sms":9998,"international_tl":1000.0}'
    assert find_leaks([("response", text)], ["9998"], []) == []
    assert find_leaks([("response", text + " code=9998")], ["9998"], []) != []


def test_a_date_header_a_process_id_or_a_docs_page_year_is_not_a_code() -> None:
    texts = [
        ("response", "201\ndate: Wed, 02 Dec 2026 17:14:16 GMT\nserver: \n\n{}"),
        ("log", '{"event":"Spawning worker-1 with PID: 6438","level":"info"}'),
        ("response", '200\n\n<svg xmlns="http://www.w3.org/2000/svg" class="json-schema-2020-12">'),
    ]
    assert find_leaks(texts, ["2026", "6438", "2000", "2020"], []) == []
    # The same numbers outside those shapes still count.
    leaked = [("response", "200\nx-debug: 2026\n\n{}"), ("log", "code=6438")]
    assert len(find_leaks(leaked, ["2026", "6438"], [])) == 2
