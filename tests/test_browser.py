"""In a real browser: JupyterLab opens the explorer, runs it, a slider moves the headline table.

Needs Chromium (Debian's ``chromium``, at ``/usr/bin/chromium`` or on the PATH, or
``$HUBSD_CHROMIUM``), Playwright for Python (``pip install -e ".[browser]"``; only its driver is
used, with the system's Chromium: no browser download) and JupyterLab with ipywidgets
(``pip install -e ".[lab]"``); skipped, saying which is missing, otherwise. ``.ci/run`` installs
all three.

The test starts JupyterLab on a free localhost port with a random token, in a temporary folder
holding a copy of ``notebooks/00_explorer.ipynb`` (JupyterLab saves the notebooks it runs), with
its own configuration, runtime and settings folders; opens the notebook, runs all cells, waits
for the explorer, types a new value into one slider's readout and checks that the headline table
changes. Screenshots of the explorer before and after, and of the report's front page, go to
``outputs/browser/``.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hubsd.studies.explore import UNCERTAINTIES
from hubsd.workflows.kernels import NOTEBOOK_KERNEL_DISPLAY, REGISTER
from hubsd.workflows.report import build_report
from hubsd.workflows.runfolder import run_folder

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "outputs" / "browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The slider moved and the value typed into its readout (clamped to the slider's range).
SLIDER, VALUE = UNCERTAINTIES["change_in_automatable_junior_share"], "0.2"


def _chromium() -> str | None:
    for path in (os.environ.get("HUBSD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def _missing() -> str | None:
    if _chromium() is None:
        return "no Chromium (apt-get install chromium, or set HUBSD_CHROMIUM)"
    for module, extra in (("playwright", "browser"), ("jupyterlab", "lab"), ("ipywidgets", "lab")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[{extra}]')"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_missing() is not None, reason=f"browser test: {_missing()}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free localhost port: (base URL, token, notebook folder)."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    shutil.copy(REPO / "notebooks" / "00_explorer.ipynb", notebooks)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        JUPYTER_PATH=str(root / "share" / "jupyter"),
    )
    # the README's one-liner registers the kernel the notebook names (into the lab's own folder:
    # --prefix instead of --user), so JupyterLab starts it without asking
    register = REGISTER.replace("python ", f"{sys.executable} ", 1)
    subprocess.run(
        register.replace("--user", f"--prefix {root}"),
        shell=True,
        check=True,
        capture_output=True,
        env=env,
    )
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI runs as root
        cmd.append("--allow-root")
    log = (root / "jupyterlab.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(root / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 120 s")
                time.sleep(0.5)
        yield base, token, notebooks
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _headline(page) -> str:
    return page.locator(".hubsd-explorer .hubsd-headline").first.inner_text()


def test_explorer_runs_in_jupyterlab_and_a_slider_changes_the_headline(lab, browser):
    base, token, _ = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/00_explorer.ipynb?token={token}")
    page.wait_for_selector(".jp-NotebookPanel")
    # the notebook's own kernel has started and connected: "Python (hubsd) | Idle"
    idle = f"{NOTEBOOK_KERNEL_DISPLAY} | Idle"
    page.wait_for_function(f"document.body.innerText.includes('{idle}')", timeout=180_000)
    news = page.get_by_role("button", name="No", exact=True)
    if news.count():  # "Would you like to get notified about official Jupyter news?"
        news.first.click()
    page.get_by_role("menuitem", name="Run", exact=True).first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.wait_for_selector(".hubsd-explorer .hubsd-headline", timeout=300_000)
    except Exception:
        page.screenshot(path=str(SHOTS / "explorer_failed.png"), full_page=True)
        errors = page.locator(".jp-RenderedText[data-mime-type$='stderr'], .jp-OutputArea-output")
        raise AssertionError(
            "the explorer did not appear; outputs: " + " | ".join(errors.all_inner_texts())[-3000:]
        ) from None
    before = _headline(page)
    assert "Junior jobs 2035" in before and "Policy cost to 2045" in before
    explorer = page.locator(".hubsd-explorer").first
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=str(SHOTS / "explorer_before.png"))

    slider = explorer.locator(".widget-slider", has_text=SLIDER).first
    readout = slider.locator(".widget-readout")
    old_value = readout.inner_text().strip()
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(VALUE)
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 60
    while _headline(page) == before and time.monotonic() < deadline:
        time.sleep(0.25)
    after = _headline(page)
    assert after != before, "the headline table did not change after the slider moved"
    assert readout.inner_text().strip() != old_value  # VALUE, or the slider's end nearest it
    explorer.screenshot(path=str(SHOTS / "explorer_after.png"))
    page.screenshot(path=str(SHOTS / "jupyterlab.png"))
    page.close()


def test_report_front_page_in_the_browser(browser, tmp_path):
    """The report's front page (one hub's run, two notebooks) as a reader sees it."""
    run_folder("krakow", out=tmp_path / "runs" / "krakow", command="test")
    (tmp_path / "notebooks").mkdir()
    for name in ("00_explorer.ipynb", "03_policies.ipynb"):
        shutil.copy(REPO / "notebooks" / name, tmp_path / "notebooks")
    index = build_report(tmp_path / "notebooks", tmp_path / "report")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(index.as_uri())
    assert page.locator("#krakow table.data").count() == 1
    assert page.locator("#krakow img").count() == 3
    page.screenshot(path=str(SHOTS / "report_front.png"), full_page=True)
    page.goto((index.parent / "00_explorer.html").as_uri())
    code = page.locator(".jp-CodeCell .jp-Cell-inputWrapper").first
    assert not code.is_visible()  # code hidden by default
    page.locator("#hubsd-toggle").click()
    assert code.is_visible()
    page.screenshot(path=str(SHOTS / "report_explorer_page.png"))
    page.close()
