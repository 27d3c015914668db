"""The web console over a big store: how fast the list page and its API answer.

Builds a store of N executions (default 10,000: 1 in 10 real runs of a small
workflow that succeed or fail, the rest started in bulk, a quarter of those
stopped), serves it with ``durable-exec ui``'s server in this process, and
times each request the list page makes, over one keep-alive connection like a
browser's, plus the other reads a session makes (a deep page, filters, a
search that scans every name, the live-update poll, one execution).

"The list page" is everything a browser fetches to draw it: the page, its
script and style sheet, ``/api/info`` and the first page of
``/api/executions``. The target is under 0.5 s at 10,000 executions.

``--browser`` also times it end to end in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, through Selenium): from navigation to
the rows drawn, by the page's own clock (a performance mark).

Run: ``python -m benchmarks.ui [--executions N] [--reps N] [--browser] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from durable_exec import DurableContext, durable_execution
from durable_exec._cli._ui._server import ConsoleServer, start_console
from durable_exec._cli._workspace import Workspace, locate_store
from durable_exec.testing import DurableTestRunner

TARGET_SECONDS = 0.5


@durable_execution
def _order(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    reserved = context.step(lambda _: {"order": event["i"], "items": 3}, name="reserve")
    if event["i"] % 7 == 0:
        context.step(_decline, name="charge")
    charged = context.step(lambda _: f"charge-{event['i']}", name="charge")
    return {"reserved": reserved, "charge": charged}


def _decline(_: object) -> str:
    raise ValueError("card declined")


def populate(workspace: Workspace, count: int, real_share: float = 0.1) -> dict[str, int]:
    """Fill the store with ``count`` executions; return how many of each status."""
    real = max(1, int(count * real_share))
    runner = DurableTestRunner(_order, service=workspace.service())
    for i in range(real):
        runner.run({"i": i}, execution_name=f"order-{i:05d}")
    store = workspace.store
    assert store is not None
    service = workspace.service()
    with store.transaction():
        arns = [
            service.start_execution("bulk", json.dumps({"i": i}), execution_name=f"bulk-{i:05d}")
            for i in range(count - real)
        ]
        for arn in arns[::4]:
            service.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorMessage": "x"})
    page = workspace.list_executions(limit=1)
    statuses = {}
    for status in ("RUNNING", "SUCCEEDED", "FAILED", "STOPPED"):
        statuses[status] = workspace.list_executions(status=status, limit=1).total
    statuses["total"] = page.total
    return statuses


class _Session:
    """One keep-alive connection with the console's session cookie, as a browser has."""

    def __init__(self, server: ConsoleServer) -> None:
        self.server = server
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        token = urlsplit(server.url).query.split("=", 1)[1]
        status, headers, _ = self.get(f"/?token={token}", cookie=False)
        assert status == 303, status
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]

    def get(self, path: str, *, cookie: bool = True) -> tuple[int, Any, bytes]:
        headers = {"Host": f"127.0.0.1:{self.server.port}"}
        if cookie:
            headers["Cookie"] = self.cookie
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.headers, response.read()

    def api(self, path: str, **params: object) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        status, _, body = self.get(path + ("?" + query if query else ""))
        assert status == 200, body[:300]
        return json.loads(body)


def _time(call: Any, reps: int) -> dict[str, float]:
    call()  # warm: the first read of a page fills SQLite's cache
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return {
        "median_ms": statistics.median(samples) * 1000,
        "p95_ms": samples[min(len(samples) - 1, int(len(samples) * 0.95))] * 1000,
        "max_ms": samples[-1] * 1000,
    }


def measure(server: ConsoleServer, reps: int) -> dict[str, dict[str, float]]:
    """Time the list page's requests and a session's other reads."""
    session = _Session(server)
    first = session.api("/api/executions")
    deep_cursor = None
    page = first
    for _ in range(99):  # the cursor of page 100
        deep_cursor = page["next_cursor"]
        page = session.api("/api/executions", cursor=deep_cursor)
    failed = session.api("/api/executions", status="FAILED", limit=1)["executions"][0]["arn"]

    def list_page() -> None:
        for path in ("/", "/static/console.js", "/static/console.css", "/api/info"):
            status, _, _ = session.get(path)
            assert status == 200
        session.api("/api/executions", limit=50)

    reads: dict[str, Any] = {
        "list page (page + script + styles + info + first 50)": list_page,
        "GET /api/executions (first 50)": lambda: session.api("/api/executions"),
        "GET /api/executions (page 100, by cursor)": lambda: session.api(
            "/api/executions", cursor=deep_cursor
        ),
        "GET /api/executions?status=FAILED": lambda: session.api(
            "/api/executions", status="FAILED"
        ),
        "GET /api/executions?search=0099 (scans every row)": lambda: session.api(
            "/api/executions", search="0099"
        ),
        "GET /api/executions?limit=1000": lambda: session.api("/api/executions", limit=1000),
        "GET /api/poll (live update, nothing changed)": lambda: session.api(
            "/api/poll", since=first["seq"]
        ),
        "GET /api/execution (a failed order: tree + timeline)": lambda: session.api(
            "/api/execution", arn=failed
        ),
    }
    return {name: _time(call, reps) for name, call in reads.items()}


def measure_browser(server: ConsoleServer, reps: int) -> dict[str, float] | None:
    """Navigation to rows drawn, in headless Chromium; None without Selenium or Chromium."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        print("(--browser: selenium is not installed; skipped)")
        return None
    binaries = ("/usr/bin/chromium", "/usr/bin/chromedriver")
    if not all(os.access(path, os.X_OK) for path in binaries):
        print("(--browser: /usr/bin/chromium or /usr/bin/chromedriver missing; skipped)")
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="durable-exec-bench-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(server.url)
        samples = []
        for _ in range(reps + 1):
            driver.get("about:blank")
            driver.get(server.url.split("?", 1)[0])
            while len(driver.find_elements(By.CSS_SELECTOR, '[data-testid="execution-row"]')) < 50:
                pass
            # Navigation start to the rows drawn, by the page's own clock (no driver overhead).
            drawn = driver.execute_script(
                "const m = performance.getEntriesByName('durable-exec:list-drawn');"
                "return m.length ? m[0].startTime : null;"
            )
            samples.append(float(drawn) / 1000)
        samples = sorted(samples[1:])
    finally:
        driver.quit()
    return {"median_ms": statistics.median(samples) * 1000, "max_ms": samples[-1] * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui", description=__doc__)
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--browser", action="store_true", help="also time it in Chromium")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="durable-exec-bench-ui-") as scratch:
        Path(scratch).chmod(0o700)
        location = locate_store(Path(scratch) / ".durable" / "executions.db")
        with Workspace(location, create=True) as workspace:
            started = time.perf_counter()
            statuses = populate(workspace, args.executions)
            built = time.perf_counter() - started
        print(
            f"store: {statuses['total']:,} executions ({statuses['RUNNING']:,} running, "
            f"{statuses['SUCCEEDED']:,} succeeded, {statuses['FAILED']:,} failed, "
            f"{statuses['STOPPED']:,} stopped), {location.path.stat().st_size / 2**20:.1f} MiB, "
            f"built in {built:.1f} s"
        )
        server = start_console(location, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            figures = measure(server, args.reps)
            browser = measure_browser(server, min(args.reps, 10)) if args.browser else None
        finally:
            server.shutdown()
            thread.join()
            server.server_close()
    width = max(len(name) for name in figures)
    print(f"{'request'.ljust(width)}  median ms  p95 ms  max ms")
    for name, figure in figures.items():
        print(
            f"{name.ljust(width)}  {figure['median_ms']:9.1f}  {figure['p95_ms']:6.1f}  "
            f"{figure['max_ms']:6.1f}"
        )
    if browser is not None:
        print(
            f"{'headless Chromium: navigation start to 50 rows drawn'.ljust(width)}  "
            f"{browser['median_ms']:9.1f}  {'':6}  {browser['max_ms']:6.1f}"
        )
    page = figures["list page (page + script + styles + info + first 50)"]
    verdict = "meets" if page["p95_ms"] / 1000 < TARGET_SECONDS else "MISSES"
    print(f"the list page {verdict} the target (< {TARGET_SECONDS * 1000:.0f} ms at p95)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "executions": statuses,
                    "python": sys.version.split()[0],
                    "requests": figures,
                    "browser": browser,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
