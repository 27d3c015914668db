"""The console in a real browser: headless Chromium driven by Selenium (tox env 'ui').

Every test starts the real ``durable-exec ui`` command and real ``durable-exec
run``/``resume`` processes, as a user in two terminals would, and reads the
page only through what it shows. Chromium and its driver come from the Debian
packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them);
``$CHROMIUM`` and ``$CHROMEDRIVER`` point elsewhere. A missing browser fails
these tests: it never skips them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import APPROVAL_INPUT, EXAMPLES, REPO, XSS, XSS_SCRIPT

pytestmark = pytest.mark.ui

WAIT_SECONDS = 30
DASH = "\u2013"  # the list's "1-50 of N" uses an en dash
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def durable_exec(
    *args: str, cwd: Path, check_code: int | None = None
) -> subprocess.CompletedProcess:
    """Run ``durable-exec ARGS`` in another process (another terminal)."""
    done = subprocess.run(
        [sys.executable, "-m", "durable_exec", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check_code is not None:
        assert done.returncode == check_code, done.stdout + done.stderr
    return done


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    chromedriver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    for path in (chromium, chromedriver):
        if not os.access(path, os.X_OK):
            pytest.fail(
                f"{path} is missing: install the Debian packages chromium and chromium-driver "
                "(apt-get install chromium chromium-driver), or set $CHROMIUM/$CHROMEDRIVER"
            )
    profile = tempfile.mkdtemp(prefix="durable-exec-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1250"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path, workflows: Path) -> Path:
    """A project directory with its own store; the workflows live beside it."""
    directory = tmp_path / "project"
    (directory / ".durable").mkdir(parents=True, exist_ok=True)
    (directory / ".durable").chmod(0o700)
    return directory


@pytest.fixture
def console_url(project: Path) -> Iterator[str]:
    """``durable-exec ui --port 0`` running in its own process; its printed address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "durable_exec", "ui", "--port", "0"],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        line = process.stdout.readline()
        assert line.startswith("durable-exec console: http://127.0.0.1:"), line + (
            process.stderr.read() if process.poll() is not None else ""
        )
        yield line.split(": ", 1)[1].strip()
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=30)
        if process.poll() is None:
            process.kill()
            process.communicate()


class Page:
    """What a user sees and does, through Selenium."""

    def __init__(self, driver: Any) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.by = By
        # Live updates redraw the page: an element found a moment ago may be gone.
        self.wait = WebDriverWait(
            driver,
            WAIT_SECONDS,
            poll_frequency=0.1,
            ignored_exceptions=[StaleElementReferenceException],
        )
        driver.get("about:blank")  # stop the previous test's page from polling its console
        driver.get_log("browser")  # and drop what it logged

    def open(self, url: str) -> None:
        self.driver.get(url)

    def all(self, testid: str) -> list[Any]:
        return self.driver.find_elements(self.by.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def one(self, testid: str) -> Any:
        return self.until(lambda: (self.all(testid) or [None])[0], f"{testid} to appear")

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        return self.wait.until(lambda _: condition(), message=f"waited for {what}")

    def text(self, testid: str) -> str:
        return str(self.until(lambda: [e.text for e in self.all(testid)][:1], testid)[0])

    def texts(self, testid: str) -> list[str]:
        return self.until(lambda: [str(e.text) for e in self.all(testid)] or None, testid)

    def click(self, testid: str, index: int = 0) -> None:
        self.until(
            lambda: self.all(testid)[index].click() or True, f"{testid} #{index} to be clicked"
        )

    def type(self, testid: str, text: str) -> None:
        self.until(lambda: self.one(testid).send_keys(text) or True, f"typing into {testid}")

    def click_text(self, text: str) -> None:
        self.until(lambda: self.driver.find_elements(self.by.LINK_TEXT, text), f"a link {text!r}")[
            0
        ].click()

    def script(self, code: str) -> Any:
        return self.driver.execute_script(code)

    def errors(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
        ]


@pytest.fixture
def page(browser: Any) -> Page:
    return Page(browser)


def _screenshot_path(tmp_path: Path) -> Path:
    directory = os.environ.get("DURABLE_EXEC_UI_SCREENSHOTS")
    return Path(directory) / "console.png" if directory else tmp_path / "console.png"


def test_the_approval_scenario(page: Page, console_url: str, project: Path, tmp_path: Path):
    """Start the example, open it from the list, answer its callback, resume, watch it end."""
    durable_exec(
        "run",
        f"{EXAMPLES / 'approval.py'}:handler",
        "--input",
        APPROVAL_INPUT,
        "--name",
        "approve-1",
        cwd=project,
        check_code=3,
    )
    page.open(console_url)
    page.until(lambda: page.all("execution-row"), "the executions list")
    assert f"1{DASH}1 of 1" in page.text("list-count")
    assert "manager-approval" in page.text("waiting-callbacks")
    page.click_text("approve-1")

    # The tree and the timeline.
    assert page.text("execution-status") == "RUNNING"
    labels = page.texts("operation")
    assert "manager-approval" in labels[0], labels
    assert "wait for callback" in labels[0], labels
    assert "manager-approval create callback id" in page.text("operation-tree")
    bars = page.all("timeline-bar")
    assert any("waiting for callback" in bar.get_attribute("title") for bar in bars)

    # A heartbeat first; then answer the callback with the button, and resume.
    page.click("callback-heartbeat")
    page.until(
        lambda: (
            "heartbeat sent" in page.script("return document.getElementById('toast').textContent")
        ),
        "the heartbeat",
    )
    page.type("callback-payload", "approved")
    page.click("callback-succeed")
    page.until(lambda: not page.all("callback"), "the callback to be answered")
    page.click("resume")

    # The resume runs in another process: the page follows the store until it ends.
    page.until(lambda: page.text("execution-status") == "SUCCEEDED", "SUCCEEDED")
    result = json.loads(page.text("execution-result"))
    assert result == {"request": "laptop", "decision": "approved"}
    page.until(lambda: any("place-order" in t for t in page.texts("operation")), "place-order")
    page.until(lambda: "succeeded" in page.text("job"), "the job's outcome")
    page.click("operation", 1)  # the callback: its answer, its events
    page.until(lambda: "approved" in page.text("operation-result"), "the callback's result")
    page.script("window.scrollTo(0, 0); document.getElementById('toast').hidden = true")
    shot = _screenshot_path(tmp_path)
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert page.driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    assert page.errors() == []


def test_hostile_payloads_are_shown_as_text_and_never_run(
    page: Page, console_url: str, project: Path, workflows: Path
):
    """XSS in a step name, a result, the input and an error message: shown, never parsed."""
    durable_exec(
        "run",
        f"{workflows / 'hostile.py'}:handler",
        "--input",
        json.dumps(XSS),
        "--name",
        "hostile-1",
        cwd=project,
        check_code=1,
    )
    page.open(console_url)
    page.until(lambda: page.all("execution-row"), "the executions list")
    assert "onerror" in page.text("executions")  # the error message, as text
    page.click_text("hostile-1")
    page.one("operation-tree")
    for index in range(len(page.all("operation"))):
        page.click("operation", index)
        page.until(lambda: page.all("detail-title"), "the operation's detail")
        page.until(
            lambda: page.all("operation-result") or page.all("operation-error"),
            "its result or error",
        )
    page.click("operation", -1)
    page.until(lambda: page.all("operation-error"), "the failing step's error")
    body = page.script("return document.body.innerText")
    assert f"name {XSS}" in body
    assert XSS_SCRIPT in body
    assert page.text("execution-input").strip() == json.dumps(XSS)
    assert "Traceback" in page.text("stack-trace")
    # Nothing ran, and no element was made from the payloads.
    assert page.script("return document.title") != "pwned"
    assert page.script("return window.__pwned === undefined") is True
    assert page.script("return document.querySelectorAll('#main img, #main script').length") == 0
    assert page.errors() == []


def test_large_results_expand_and_wide_fan_outs_unfold(
    page: Page, console_url: str, project: Path, workflows: Path
):
    """A result cut to a preview expands to the whole; a map of 60 shows 50, then all."""
    durable_exec(
        "run", f"{workflows / 'big.py'}:handler", "--name", "big-1", cwd=project, check_code=0
    )
    page.open(console_url)
    page.click_text("big-1")
    page.until(lambda: "… 10 more" in page.text("show-more"), "the fan-out cut at 50")
    rows = len(page.all("operation"))
    page.click("show-more")
    page.until(lambda: len(page.all("operation")) == rows + 10, "all 60 items")
    page.click("operation", 0)  # the step returning 5,000 lines
    page.until(lambda: page.all("expand"), "the expand control")
    preview = page.text("operation-result")
    assert "line 04999" not in preview
    page.click("expand")
    page.until(lambda: "line 04999" in page.text("operation-result"), "the whole result")
    assert page.errors() == []


def test_a_run_in_another_terminal_shows_up_live(
    page: Page, console_url: str, project: Path, workflows: Path
):
    """The list and the execution page follow a real-time run without being reloaded."""
    page.open(console_url)
    page.until(lambda: "no executions" in page.text("list-count"), "the empty list")
    page.script("window.__same_page = true")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_exec",
            "run",
            f"{workflows / 'slow.py'}:handler",
            "--name",
            "slow-1",
            "--real-time",
        ],
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page.click_text("slow-1")  # appeared without a reload
        assert page.script("return window.__same_page === true") is True
        page.until(lambda: page.text("execution-status") in {"RUNNING", "SUCCEEDED"}, "a status")
        page.until(lambda: page.text("execution-status") == "SUCCEEDED", "the run to end")
        assert page.script("return window.__same_page === true") is True
        labels = " ".join(page.texts("operation"))
        assert "first" in labels
        assert "pause" in labels
        assert "second" in labels
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert page.errors() == []


def test_the_list_pages_filters_and_searches_ten_thousand_executions(
    page: Page, console_url: str, project: Path
):
    """At 10,000 executions the list pages, filters and searches, and rows open."""
    from durable_exec._cli._workspace import Workspace, locate_store

    with Workspace(locate_store(project / ".durable" / "executions.db"), create=True) as ws:
        populate(ws, 10_000)
    page.open(console_url)
    page.until(lambda: "of 10,000" in page.text("list-count"), "10,000 executions")
    assert page.text("list-count").startswith(f"1{DASH}50 ")
    assert len(page.all("execution-row")) == 50
    page.click("page-next")
    page.until(lambda: page.text("list-count").startswith(f"51{DASH}100 of 10,000"), "page 2")
    from selenium.webdriver.support.ui import Select

    Select(page.one("filter-status")).select_by_value("STOPPED")
    page.until(lambda: page.text("list-count") == f"1{DASH}50 of 2,500", "the STOPPED filter")
    assert {row.split()[0] for row in page.texts("execution-row")} == {"STOPPED"}
    page.type("filter-search", "bulk-0099")
    page.until(lambda: page.text("list-count") == f"1{DASH}2 of 2", "the search")
    page.click_text("bulk-00996")
    page.until(lambda: page.text("execution-name") == "bulk-00996", "the execution page")
    assert page.text("execution-status") == "STOPPED"
    assert page.errors() == []


def populate(workspace: Any, count: int) -> None:
    """Add ``count`` executions in one transaction; every fourth is stopped."""
    store = workspace.store
    service = workspace.service()
    with store.transaction():
        arns = [
            service.start_execution("bulk", json.dumps({"i": i}), execution_name=f"bulk-{i:05d}")
            for i in range(count)
        ]
        for arn in arns[::4]:
            service.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorMessage": "x"})
