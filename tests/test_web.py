"""The host's window (``voc-host serve``) in a real server and a real browser.

One server for the module: ``voc-host serve --no-browser`` in a subprocess (real uvicorn on a
free 127.0.0.1 port, the lstm plugin found by its entry point, a fresh model store, the
project's catalogue served by a loopback HTTP server). Headless Chromium (Debian's
``chromium``, driven by Playwright) picks a style, composes, waits for the player, downloads
the MIDI and parses it; the model manager fetches a style. Raw HTTP requests check the guard:
no token 403, foreign Host 400, a path 400, always JSON.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed")
pytest.importorskip("uvicorn", reason="the web extra is not installed")

from hostapi.web import wants_browser  # noqa: E402
from lstm_composer_plugin.music.midi import read_midi  # noqa: E402
from model_store.testing import StoreServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "catalogue"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a test's screenshot goes: docs/ (the pictures the docs show) when LSTM_COMPOSER_SCREENSHOTS=1,
    else the test's own folder, so that a test run leaves the checkout as it found it."""
    return (REPO / "docs" if os.environ.get("LSTM_COMPOSER_SCREENSHOTS") == "1" else tmp_path) / name


CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"))
     if p and Path(p).is_file()),
    None,
)
SERVE = [sys.executable, "-m", "hostapi.cli", "serve"]  # voc-host serve


@dataclass
class Served:
    url: str  # the printed URL, with ?token=
    port: int
    token: str
    proc: subprocess.Popen[str]

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, str, bytes]:
        """A raw request (no client-side path normalising): status, content type, body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            all_headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            if body:
                all_headers["Content-Length"] = str(len(body))
            for key, value in all_headers.items():
                conn.putheader(key, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, response.getheader("content-type", ""), response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def catalogue_url() -> Iterator[str]:
    with StoreServer(CATALOGUE) as server:
        yield server.url


@pytest.fixture(scope="module")
def served(tmp_path_factory, catalogue_url) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("web-store")
    env = {
        **os.environ,
        "LSTM_COMPOSER_HOME": str(home),
        "LSTM_COMPOSER_CONFIG_DIR": str(home / "config"),
        "LSTM_COMPOSER_CATALOGUE": catalogue_url,
        "BROWSER": "none",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LSTM_COMPOSER_OFFLINE", None)
    proc = subprocess.Popen(
        [*SERVE, "--no-browser"], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        if not first.startswith("http://127.0.0.1:"):
            proc.kill()
            pytest.fail(f"serve printed {first!r} first; stderr: {proc.stderr.read()[-2000:]}")
        parts = urlsplit(first)
        token = parts.query.removeprefix("token=")
        served = Served(first, parts.port, token, proc)
        deadline = time.monotonic() + 30
        while True:  # the URL is printed before uvicorn starts answering
            try:
                served.request("GET", "/api/styles")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"the server did not answer; stderr: {proc.stderr.read()[-2000:]}")
                time.sleep(0.1)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _json(status_type_body: tuple[int, str, bytes]) -> tuple[int, dict]:
    status, ctype, body = status_type_body
    assert ctype.startswith("application/json"), (status, ctype, body[:200])
    return status, json.loads(body)


def test_serve_opens_the_browser_with_the_url_and_cleans_up(tmp_path):
    """BROWSER names a program that records the URL it is given (as a browser would open it)."""
    record = tmp_path / "opened.txt"
    fake = tmp_path / "browser.py"
    fake.write_text(f"import sys; open({str(record)!r}, 'w').write(sys.argv[1])\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {fake} %s",
           "LSTM_COMPOSER_HOME": str(tmp_path / "store"), "LSTM_COMPOSER_OFFLINE": "1"}
    proc = subprocess.Popen(SERVE, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert record.read_text() == url
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    session = re.search(r"files go to (\S+);", err)
    assert session, err
    assert not Path(session.group(1)).exists()  # the session folder goes with the server


def test_browser_choice():
    assert wants_browser(False, {})
    assert wants_browser(False, {"BROWSER": "firefox"})
    assert not wants_browser(True, {})
    for off in ("none", "false", "0", "off", "NONE"):
        assert not wants_browser(False, {"BROWSER": off})


# -- the guard: raw HTTP ---------------------------------------------------------------


def test_first_line_is_the_tokened_loopback_url(served):
    assert served.url.startswith(f"http://127.0.0.1:{served.port}/?token=")
    assert len(served.token) >= 20


def test_no_token_or_a_wrong_one_is_refused_with_json(served):
    for path in ("/", "/api/styles", "/static/app.js", f"/api/jobs/{'0' * 16}"):
        status, body = _json(served.request("GET", path))
        assert status == 403 and "token" in body["error"], (path, body)
    status, body = _json(served.request("GET", "/api/styles?token=not-the-token"))
    assert status == 403 and "wrong token" in body["error"]
    status, body = _json(served.request("GET", "/", headers={"X-Voc-Token": "x" + served.token}))
    assert status == 403
    status, body = _json(served.request("GET", "/api/styles?token=%C3%A9t%C3%A9"))  # non-ASCII
    assert status == 403


def test_foreign_host_header_is_refused_even_with_the_token(served):
    for host in ("evil.example", f"evil.example:{served.port}", "127.0.0.1:1"):
        status, body = _json(
            served.request("GET", f"/?token={served.token}", headers={"Host": host})
        )
        assert status == 400 and "foreign Host" in body["error"], (host, body)
    status, body = _json(
        served.request(
            "POST", "/api/compose", body=b"{}",
            headers={"X-Voc-Token": served.token, "Origin": "http://evil.example"},
        )
    )
    assert status == 400 and "Origin" in body["error"]


def test_the_token_works_as_query_header_and_cookie(served):
    status, ctype, _ = served.request("GET", f"/?token={served.token}")
    assert status == 200 and ctype.startswith("text/html")
    assert served.request("GET", "/api/styles", headers={"X-Voc-Token": served.token})[0] == 200
    cookie = f"voc_token_{served.port}={served.token}"
    assert served.request("GET", "/static/style.css", headers={"Cookie": cookie})[0] == 200


def test_naming_a_path_or_bad_input_is_400_json(served):
    auth = {"X-Voc-Token": served.token, "Content-Type": "application/json"}
    for path in ("/files/../../../etc/passwd", "/files/%2e%2e%2fetc%2fpasswd", "/files/etc/passwd"):
        status, body = _json(served.request("GET", path, headers=auth))
        assert status == 400 and "by id" in body["error"], (path, body)
    bad_bodies = [
        {"style": "bach", "out_path": "/tmp/x.mid"},
        {"style": "bach", "primer": "/etc/passwd"},
        {"style": "../../etc/passwd"},
        {"style": "bach", "temperature": "hot"},
        {"style": "bach", "variations": 1000},
        {"style": "bach", "seed": -1},
    ]
    for bad in bad_bodies:
        status, body = _json(
            served.request("POST", "/api/compose", headers=auth, body=json.dumps(bad).encode())
        )
        assert status == 400 and body["error"], (bad, body)
    status, body = _json(served.request("POST", "/api/compose", headers=auth, body=b"{not json"))
    assert status == 400 and "JSON" in body["error"]
    status, body = _json(
        served.request("POST", "/api/models", headers=auth, body=b'{"action": "publish"}')
    )
    assert status == 400 and "action" in body["error"]
    status, body = _json(served.request("GET", "/no/such/page", headers=auth))
    assert status == 404 and body["error"]
    status, body = _json(served.request("GET", "/static/../app.py", headers=auth))
    assert status in (400, 404)
    status, body = _json(served.request("GET", f"/files/{'0' * 32}", headers=auth))
    assert status == 404


def test_styles_come_from_the_host_with_sizes(served):
    status, body = _json(served.request("GET", "/api/styles", headers={"X-Voc-Token": served.token}))
    assert status == 200
    by_name = {s["name"]: s for s in body["styles"]}
    assert by_name["bach"]["installed"] and by_name["bach"]["plugin"] == "lstm"
    downloadable = [s for s in body["styles"] if s["needs_download"]]
    assert downloadable and all(s["size_bytes"] > 0 for s in downloadable)


def test_composing_a_downloadable_style_reports_download_then_compose(served):
    auth = {"X-Voc-Token": served.token, "Content-Type": "application/json"}
    _, body = _json(served.request("GET", "/api/styles", headers=auth))
    style = [s["name"] for s in body["styles"] if s["needs_download"]][-1]
    request = {"style": style, "seconds": 8, "seed": 1, "png": False}
    status, body = _json(
        served.request("POST", "/api/compose", headers=auth, body=json.dumps(request).encode())
    )
    assert status == 202
    deadline = time.monotonic() + 180
    while True:
        _, job = _json(served.request("GET", f"/api/jobs/{body['job']}", headers=auth))
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["state"] == "done", job["error"]
    assert job["stages"][:2] == ["download", "compose"], job["stages"]
    assert job["result"]["style"] == style and job["result"]["png"] is None
    status, ctype, midi = served.request("GET", job["result"]["midi"]["url"], headers=auth)
    assert status == 200 and ctype == "audio/midi" and midi[:4] == b"MThd"


# Issue 23, item 15: the same out-of-range values are refused by the page and both command lines,
# with the same one-line message (hostapi.results.COMPOSE_BOUNDS, written once).
def _out_of_range() -> list[tuple[str, float, str]]:
    """Just past each bound of every numeric option the page offers, from the one settings record."""
    from hostapi.results import COMPOSE_SETTINGS

    cases = []
    for s in COMPOSE_SETTINGS:
        if not s.page or s.bound is None:
            continue
        step = 1 if s.kind == "int" else 0.5
        cases.append((s.name, s.bound.low if s.bound.open_low else s.bound.low - step, s.flag))
        if s.bound.high != float("inf"):
            cases.append((s.name, s.bound.high + step, s.flag))
    return [(name, int(v) if float(v).is_integer() else v, flag) for name, v, flag in cases]


OUT_OF_RANGE = _out_of_range()


def test_the_out_of_range_cases_cover_every_page_option():
    names = {name for name, _, _ in OUT_OF_RANGE}
    assert names == {"length", "seconds", "seed", "temperature", "variations", "density", "tempo"}
    for case in [("seed", 2**63, "--seed"), ("seed", -1, "--seed"), ("variations", 65, "--variations"),
                 ("variations", 0, "--variations"), ("length", 20_001, "--length"), ("temperature", 0, "--temperature"),
                 ("density", 0, "--density"), ("seconds", 0, "--seconds")]:
        assert case in OUT_OF_RANGE, case


def test_the_settings_record_builds_both_command_lines_and_the_page(served):
    from hostapi.results import COMPOSE_SETTINGS

    for command in (["hostapi.cli"], ["lstm_composer_plugin.cli"]):
        help_text = subprocess.run([sys.executable, "-m", *command, "compose", "--help"], capture_output=True,
                                   text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}).stdout
        for setting in COMPOSE_SETTINGS:
            assert f"{setting.flag} " in help_text or f"{setting.flag}\n" in help_text, (command, setting.flag)
            assert setting.help[:40] in help_text, (command, setting.name)
    status, body = _json(served.request("GET", "/api/settings", headers={"X-Voc-Token": served.token}))
    assert status == 200
    assert [row["name"] for row in body] == [s.name for s in COMPOSE_SETTINGS if s.page]
    variations = next(row for row in body if row["name"] == "variations")
    assert (variations["min"], variations["max"]) == (1, 64) and variations["help"].startswith("compose N")


def test_item_15_the_page_and_both_command_lines_refuse_the_same_values(served, tmp_path):
    auth = {"X-Voc-Token": served.token, "Content-Type": "application/json"}
    env = {**os.environ, "LSTM_COMPOSER_HOME": str(tmp_path / "home"), "LSTM_COMPOSER_OFFLINE": "1"}
    clis = {"voc-host": [sys.executable, "-m", "hostapi.cli"],
            "lstm-composer": [sys.executable, "-m", "lstm_composer_plugin.cli"]}
    for field, value, flag in OUT_OF_RANGE:
        status, body = _json(served.request(
            "POST", "/api/compose", headers=auth, body=json.dumps({"style": "bach", field: value}).encode()))
        assert status == 400, (field, value, body)
        said = {"page": body["error"]}
        for prog, command in clis.items():
            proc = subprocess.run([*command, "compose", "bach", flag, str(value), "-o", "x.mid"], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2, (prog, field, value, proc.stderr)
            [line] = proc.stderr.splitlines()
            assert line.startswith(f"{prog}: error: "), line
            said[prog] = line.split("error: ", 1)[1]
        assert not list(tmp_path.glob("*.mid"))
        assert said["voc-host"] == said["lstm-composer"] == said["page"], said
        assert said["page"].startswith(f"{flag[2:]} must be "), said
    # A style name is a style name everywhere ('+' was the page's alone).
    status, body = _json(served.request("POST", "/api/compose", headers=auth,
                                        body=json.dumps({"style": "a+b"}).encode()))
    assert status == 400
    for command in clis.values():
        proc = subprocess.run([*command, "compose", "a+b"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and "not a style name" in proc.stderr
    # And the largest seed is the same everywhere: accepted by all three.
    status, body = _json(served.request("POST", "/api/compose", headers=auth,
                                        body=json.dumps({"style": "bach", "seed": 2**63 - 1, "length": 20,
                                                         "png": False}).encode()))
    assert status == 202, body
    for command in clis.values():
        proc = subprocess.run([*command, "compose", "bach", "--seed", str(2**63 - 1), "--length", "20", "-o",
                               f"s{len(command[-1])}.mid"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr


# -- the page in Chromium -----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def test_compose_in_the_browser_plays_and_downloads(served, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url)
    page.wait_for_selector("#style option[value=bach]", state="attached")
    # Downloadable styles are in the drop-down with their sizes.
    labels = page.eval_on_selector_all("#style optgroup", "gs => gs.map(g => g.label)")
    assert "Downloadable" in labels
    first_download = page.locator("#style optgroup[label=Downloadable] option").first.inner_text()
    assert re.search(r"\(\d+(\.\d)? (kB|MB|GB)\)$", first_download), first_download
    page.select_option("#style", "bach")
    # The form's bounds and tooltips come from the compose settings record (/api/settings).
    page.wait_for_function("document.getElementById('variations').title !== ''")
    assert page.get_attribute("#variations", "max") == "64" and page.get_attribute("#length", "max") == "20000"
    page.fill("#length", "12")
    page.fill("#seed", "7")
    page.check("#audio")
    page.click("#compose")
    page.wait_for_function(
        "document.getElementById('player').getAttribute('src')", timeout=180_000
    )
    assert page.locator("#compose-error").is_hidden(), page.inner_text("#compose-error")
    assert "seed 7" in page.inner_text("#result-summary")
    page.wait_for_function("document.getElementById('pianoroll').naturalWidth > 0")
    # The player's source is a WAV the browser can fetch (same origin, the cookie).
    audio_head = page.evaluate(
        "fetch(document.getElementById('player').src)"
        ".then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b.slice(0, 12))))"
    )
    assert bytes(audio_head[:4]) == b"RIFF" and bytes(audio_head[8:12]) == b"WAVE"
    page.wait_for_function(
        "document.getElementById('player').readyState >= 1", timeout=30_000
    )
    assert page.evaluate("document.getElementById('player').duration") > 5

    with page.expect_download() as download:
        page.click("#downloads a:text-is('MIDI')")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".mid"
    piece = read_midi(saved)
    assert len(piece.notes) > 10
    shot = screenshot_path("web.png", tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not errors, errors
    page.close()


def test_model_manager_fetches_a_style_with_progress(served, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(served.url)
    page.wait_for_selector("#models button[data-action=fetch]")
    button = page.locator("#models button[data-action=fetch]").first
    style = button.get_attribute("data-style")
    button.click()
    page.wait_for_function(
        "document.getElementById('models-status').textContent.includes('fetch: ')",
        timeout=120_000,
    )
    assert page.inner_text("#models-status") == "fetch: done", page.inner_text("#models-output")
    row = page.locator("#models tbody tr", has=page.locator(f"button[data-style='{style}']"))
    assert "installed" in row.inner_text()
    page.click("#models-card button[data-action=verify]:not([data-style])")
    page.wait_for_function(
        "document.getElementById('models-status').textContent.includes('verify: ')",
        timeout=120_000,
    )
    assert page.inner_text("#models-status") == "verify: done", page.inner_text("#models-output")
    page.close()


def test_serve_without_the_web_extra_says_how_to_install_it(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    proc = subprocess.run([*SERVE, "--no-browser"], capture_output=True, text=True, env=env,
                          timeout=60, cwd=REPO)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'lstm-composer-plugin[web]'" in lines[0], proc.stderr
