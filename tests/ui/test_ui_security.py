"""The console's guards: loopback by default, session token, CSRF, Host/Origin, escaping."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, XSS, XSS_SCRIPT, Client, run_workflow
from hypothesis import given
from hypothesis import strategies as st

from durable_exec._cli._app import build_parser
from durable_exec._cli._ui._security import Guard, is_loopback, split_host


class TestBinding:
    def test_the_default_address_is_loopback_only(self, console):
        args = build_parser().parse_args(["ui"])
        assert args.host == "127.0.0.1"
        assert console.server_address[0] == "127.0.0.1"

    def test_another_host_prints_a_warning(self, tmp_path):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_exec",
                "ui",
                "--host",
                "0.0.0.0",
                "--port",
                "0",
                "--store",
                str(tmp_path / "s" / "executions.db"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = process.stdout.readline()
            assert url.startswith("durable-exec console: http://127.0.0.1:")
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
        assert "warning: listening on 0.0.0.0" in err
        assert "Use --host 127.0.0.1" in err

    def test_loopback_prints_no_warning(self, tmp_path):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_exec",
                "ui",
                "--port",
                "0",
                "--store",
                str(tmp_path / "s" / "executions.db"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert "?token=" in process.stdout.readline()
        finally:
            process.terminate()
            _, err = process.communicate(timeout=30)
        assert "warning" not in err

    def test_a_port_in_use_is_a_clear_error(self, tmp_path):
        import socket

        from durable_exec._cli._errors import CliError
        from durable_exec._cli._ui._server import start_console
        from durable_exec._cli._workspace import locate_store

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(CliError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
                start_console(locate_store(tmp_path / "s" / "executions.db"), "127.0.0.1", port)

    def test_a_store_others_can_write_is_refused_before_serving(self, tmp_path):
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        (shared / "executions.db").touch(mode=0o600)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "durable_exec",
                "ui",
                "--port",
                "0",
                "--store",
                str(shared / "executions.db"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert "writable by other users" in done.stderr
        assert "durable-exec console:" not in done.stdout


class TestSession:
    def test_nothing_is_served_without_the_session(self, console):
        anonymous = Client(console)
        for path in ("/", "/api/executions", "/api/info", "/static/console.js"):
            response = anonymous.request("GET", path)
            assert response.status == 401, path
            assert b"durable-exec ui" in response.body

    def test_a_wrong_token_opens_nothing(self, console):
        anonymous = Client(console)
        response = anonymous.request("GET", "/?token=guess")
        assert response.status == 403
        assert "Set-Cookie" not in response.headers

    def test_the_printed_address_opens_a_strict_http_only_session(self, console):
        c = Client(console)
        c.login()
        response = c.request("GET", "/")
        assert response.status == 200
        cookie = Client(console)
        token = console.url.split("token=", 1)[1]
        set_cookie = cookie.request("GET", f"/?token={token}").headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie
        assert "SameSite=Strict" in set_cookie
        assert response.headers["Referrer-Policy"] == "no-referrer"

    def test_the_page_carries_the_csrf_token_but_never_the_session(self, client):
        page = client.request("GET", "/").text
        guard = client.server.console.guard
        assert guard.csrf in page
        assert guard.session not in page


class TestDnsRebinding:
    @pytest.mark.parametrize(
        "host",
        ["evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "attacker.127.0.0.1.nip.io:{port}", ""],
    )
    def test_a_foreign_host_header_is_refused_even_with_the_session(self, client, host):
        client.host = host.format(port=client.port)
        response = client.request("GET", "/api/executions")
        assert response.status == 403
        assert b"Host" in response.body

    @pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LOCALHOST:{port}"])
    def test_loopback_names_are_accepted(self, client, host):
        client.host = host.format(port=client.port)
        assert client.request("GET", "/api/info").status == 200

    def test_allow_host_adds_a_name(self):
        guard = Guard("127.0.0.1", 8000, allow_hosts=["devbox.local"])
        assert guard.host_allowed("devbox.local:8000")
        assert not guard.host_allowed("devbox.local:8001")
        assert not guard.host_allowed("other.local:8000")

    def test_a_wildcard_bind_accepts_the_machine_name_only(self):
        import socket

        guard = Guard("0.0.0.0", 8000)
        assert guard.host_allowed(f"{socket.gethostname()}:8000")
        assert not guard.host_allowed("evil.example:8000")

    @given(st.text(max_size=40))
    def test_split_host_never_accepts_junk_as_a_loopback_name(self, text):
        parsed = split_host(text)
        guard = Guard("127.0.0.1", 8000)
        if guard.host_allowed(text):
            assert parsed is not None
            assert parsed[0] in guard.names
            assert parsed[1] in {8000, None}

    def test_is_loopback(self):
        assert is_loopback("127.0.0.1")
        assert is_loopback("::1")
        assert is_loopback("127.1.2.3")
        assert not is_loopback("0.0.0.0")
        assert not is_loopback("192.168.1.10")


class TestChangesNeedTokenAndOrigin:
    def _answer(self, client, **kwargs):
        return client.post(
            "/api/callback",
            {"callback": "approve-1/manager-approval", "action": "succeed", "payload": "ok"},
            **kwargs,
        )

    @pytest.fixture
    def waiting(self, workspace, workflows):
        return run_workflow(
            workspace,
            workflows / "approval.py",
            "approve-1",
            '{"request": "laptop", "manager": "ana@example.com"}',
        )

    def test_without_the_csrf_token_nothing_changes(self, client, workspace, waiting):
        for token in (None, "", "wrong"):
            response = self._answer(client, token=token)
            assert response.status == 403
            assert response.json()["error"]["code"] == "bad_token"
        assert len(workspace.open_callbacks()) == 1

    @pytest.mark.parametrize(
        "origin", [None, "null", "http://evil.example", "http://127.0.0.1:1", "https://127.0.0.1"]
    )
    def test_a_foreign_or_missing_origin_changes_nothing(self, client, workspace, waiting, origin):
        if origin == "https://127.0.0.1":
            origin = f"https://127.0.0.1:{client.port}"
        response = self._answer(client, origin=origin)
        assert response.status == 403
        assert response.json()["error"]["code"] == "bad_origin"
        assert len(workspace.open_callbacks()) == 1

    def test_a_form_post_is_refused(self, client, workspace, waiting):
        response = self._answer(client, content_type="application/x-www-form-urlencoded")
        assert response.status == 415
        assert len(workspace.open_callbacks()) == 1

    def test_without_the_session_the_token_is_not_enough(self, client, workspace, waiting):
        client.cookie = None
        assert self._answer(client).status == 401
        assert len(workspace.open_callbacks()) == 1

    def test_with_both_the_change_is_made(self, client, workspace, waiting):
        assert self._answer(client).status == 200
        assert workspace.open_callbacks() == []

    def test_other_methods_and_huge_bodies_are_refused(self, client):
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            assert client.request(method, "/api/callback").status == 405
        huge = client.request(
            "POST",
            "/api/callback",
            body=b"{}",
            headers={
                "Content-Type": "application/json",
                "Origin": f"http://{client.host}",
                "X-Durable-Exec-Token": client.server.console.guard.csrf,
                "Content-Length": str(10 * 1024 * 1024),
            },
        )
        assert huge.status == 413


class TestEscaping:
    def test_hostile_names_results_and_errors_leave_the_server_inert(
        self, client, workspace, workflows
    ):
        """No answer carries a raw '<': JSON escapes it; the page itself holds no data."""
        arn = run_workflow(workspace, workflows / "hostile.py", "hostile-1", json.dumps(XSS))
        bodies = [client.get("/api/executions"), client.get("/api/execution", arn=arn)]
        data = bodies[-1].json()
        bodies.extend(
            client.get("/api/operation", arn=arn, id=op["id"]) for op in data["operations"]
        )
        bodies.append(client.get("/api/payload", arn=arn, field="input"))
        bodies.append(client.get("/api/execution", arn=XSS))  # an error message echoing input
        for response in bodies:
            assert b"<" not in response.body
            assert b">" not in response.body
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        # ... and yet the values are intact once decoded.
        labels = {op["label"] for op in data["operations"]}
        assert f"name {XSS}" in labels
        assert XSS in data["execution"]["error"]["message"]
        assert XSS_SCRIPT in data["execution"]["error"]["message"]
        page = client.request("GET", "/")
        assert b"pwned" not in page.body
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
