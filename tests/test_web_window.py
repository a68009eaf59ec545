"""The composer's window, grown up (issue 22), in a real server and a real browser.

The same server as ``test_web.py`` (``voc-host serve`` in a subprocess, a fresh store, the catalogue on
loopback) and Debian's Chromium through Playwright: the score engraved in the page, the instrument, key
and metre from the form, a primer uploaded to continue; a style trained from five uploaded corpus files
with its curve drawn as it comes, installed and composed with; a run cancelled and resumed. The
screenshots in docs/ are taken here, written there when LSTM_COMPOSER_SCREENSHOTS=1 (else into the test's
folder, so a test run leaves the checkout clean).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from pathlib import Path

import mido
import pytest

pytest.importorskip("starlette", reason="the web extra is not installed")
pytest.importorskip("uvicorn", reason="the web extra is not installed")

from lstm_composer_plugin.music.midi import read_midi  # noqa: E402
from tests.test_web import _json, browser, catalogue_url, screenshot_path, served  # noqa: E402, F401 (fixtures)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def multipart(files: dict[str, bytes]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, data in files.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                 "Content-Type: audio/midi\r\n\r\n").encode() + data + b"\r\n"
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


def upload(served, files: dict[str, bytes]) -> tuple[int, dict]:
    ctype, body = multipart(files)
    return _json(served.request("POST", "/api/upload", headers={"X-Voc-Token": served.token,
                                                                "Content-Type": ctype}, body=body))


def post(served, path: str, payload: dict) -> tuple[int, dict]:
    return _json(served.request("POST", path, headers={"X-Voc-Token": served.token,
                                                       "Content-Type": "application/json"},
                                body=json.dumps(payload).encode()))


def corpus_files(style: str, n: int) -> list[Path]:
    folder = CORPUS / style
    if not folder.is_dir():
        pytest.skip(f"corpus not found at {folder}")
    return sorted(folder.glob("*.mid"))[:n]


def test_uploads_are_checked_and_named_by_id(served):
    status, body = upload(served, {"notes.txt": b"hello"})
    assert status == 400 and body["error"] == "notes.txt.mid: not a MIDI file (it does not start with MThd)"
    status, body = upload(served, {"../../etc/a chorale.mid": b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"})
    assert status == 200
    [saved] = body["files"]
    assert saved["name"] == "a chorale.mid" and re.fullmatch(r"[0-9a-f]{32}", saved["id"])
    assert "path" not in json.dumps(body)  # the page never learns a server path
    # A train request names uploads by id; anything else is refused in one line.
    status, body = post(served, "/api/train", {"style": "x", "files": ["/etc/passwd"]})
    assert status == 400 and body["error"].startswith("files must be the id of an uploaded file")
    status, body = post(served, "/api/train", {"style": "x", "files": []})
    assert status == 400 and "upload at least one MIDI file" in body["error"]
    status, body = post(served, "/api/train", {"style": "nothing_here", "resume": True})
    assert status == 400 and "no training run of that name to resume" in body["error"]
    status, body = post(served, "/api/compose", {"style": "bach", "primer": "0" * 32})
    assert status == 400 and body["error"] == f"primer: no uploaded file {'0' * 32}"
    status, body = _json(served.request("POST", "/api/jobs/0123456789abcdef/cancel",
                                        headers={"X-Voc-Token": served.token}))
    assert status == 409
    status, body = _json(served.request("GET", f"/api/score/{'a' * 32}", headers={"X-Voc-Token": served.token}))
    assert status == 404


def score_heads(xml: str) -> tuple[int, Counter]:
    """(note heads the score shows, MIDI-like onsets: a tied note once) of a MusicXML text."""
    music21 = pytest.importorskip("music21")
    score = music21.converter.parseData(xml, format="musicxml")
    heads, onsets = 0, Counter()
    for element in score.recurse().notes:
        members = element.notes if element.isChord else [element]
        heads += len(members)
        offset = float(element.getOffsetInHierarchy(score))
        for note in members:
            tie = note.tie if note.tie is not None else element.tie
            if tie is None or tie.type == "start":
                onsets[(round(offset * 12), note.pitch.midi)] += 1
    return heads, onsets


def test_the_score_view_shows_the_composition_as_notation(served, browser, tmp_path):
    pytest.importorskip("verovio", reason="the score extra is not installed")
    page = browser.new_page(viewport={"width": 1200, "height": 1000}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url)
    page.wait_for_selector("#style option[value=bach]", state="attached")
    page.select_option("#style", "bach")
    page.wait_for_function("document.getElementById('instrument-choices').options.length > 5")
    page.select_option("#length-unit", "length")
    page.fill("#length", "80")
    page.fill("#seed", "5")
    page.fill("#key", "D")
    page.fill("#metre", "3/4")
    page.fill("#instrument", "violin")
    page.uncheck("#audio")
    page.check("#musicxml")
    page.click("#compose")
    page.wait_for_selector("#score svg", timeout=120_000)
    assert page.locator("#compose-error").is_hidden(), page.inner_text("#compose-error")

    with page.expect_download() as midi_download:
        page.click("#downloads a:text-is('MIDI')")
    midi = tmp_path / "piece.mid"
    midi_download.value.save_as(midi)
    with page.expect_download() as xml_download:
        page.click("#downloads a:text-is('MusicXML')")
    xml = tmp_path / xml_download.value.suggested_filename
    xml_download.value.save_as(xml)
    assert xml.suffix == ".musicxml"

    # The MIDI: the instrument, key signature and metre asked for.
    meta = list(mido.MidiFile(midi).tracks[0])
    assert [m.program for m in meta if m.type == "program_change"] == [40]
    assert [m.key for m in meta if m.type == "key_signature"][0] in ("D", "Bm")
    assert [(m.numerator, m.denominator) for m in meta if m.type == "time_signature"] == [(3, 4)]
    # The MusicXML: the MIDI's notes at the MIDI's onsets.
    heads, onsets = score_heads(xml.read_text())
    notes = read_midi(midi).notes
    assert onsets == Counter((round(n.start * 12), n.pitch) for n in notes)
    # The SVG: staff lines, and one note head per note (a tied note shows one per tied part).
    svg = page.evaluate("""() => {
        const box = document.getElementById('score');
        return {staves: box.querySelectorAll('g.staff').length,
                lines: box.querySelectorAll('g.staff > path').length,
                heads: box.querySelectorAll('g.notehead').length,
                said: Number(box.dataset.notes)};
    }""")
    assert svg["staves"] > 0 and svg["lines"] >= 5 * svg["staves"], svg
    assert svg["heads"] == heads == svg["said"], svg
    assert len(notes) <= svg["heads"] <= len(notes) + len(re.findall(r'<tie type="stop"\s*/>', xml.read_text()))
    shot = screenshot_path("score-view.png", tmp_path)
    page.locator("#result-card").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert not errors, errors
    page.close()


def test_a_primer_uploaded_from_the_page_is_continued(served, browser, tmp_path):
    primer = corpus_files("bach", 1)[0]
    page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page.goto(served.url)
    page.wait_for_selector("#style option[value=bach]", state="attached")
    page.select_option("#style", "bach")
    page.set_input_files("#primer-file", str(primer))
    page.wait_for_selector("#primer-clear:not([hidden])")
    page.select_option("#length-unit", "length")
    page.fill("#length", "40")
    page.fill("#seed", "3")
    page.uncheck("#audio")
    page.click("#compose")
    page.wait_for_function("document.getElementById('compose-status').textContent === 'done'", timeout=120_000)
    assert page.locator("#compose-error").is_hidden(), page.inner_text("#compose-error")
    with page.expect_download() as download:
        page.click("#downloads a:text-is('MIDI')")
    saved = tmp_path / "continued.mid"
    download.value.save_as(saved)
    texts = " ".join(m.text for m in mido.MidiFile(saved).tracks[0] if m.type == "text")
    assert f"primer={primer.name} (last" in texts  # the plugin says what it continued
    page.close()


def _points(page) -> int:
    return int(page.get_attribute("#train-chart", "data-points") or 0)


@pytest.mark.tf
def test_train_a_style_in_the_page_watch_its_curve_and_compose_with_it(served, browser, tmp_path):
    files = corpus_files("bach", 5)
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.url)
    page.wait_for_selector("#style option[value=bach]", state="attached")
    page.set_input_files("#train-files", [str(f) for f in files])
    page.fill("#train-style", "five_chorales")
    page.select_option("#train-minutes", "1")
    page.click("#train-start")
    seen = []  # the curve's point counts as the page drew them
    page.wait_for_function("Number(document.getElementById('train-chart').dataset.points) >= 1", timeout=240_000)
    seen.append(_points(page))
    page.wait_for_function(f"Number(document.getElementById('train-chart').dataset.points) > {seen[-1]}",
                           timeout=120_000)
    seen.append(_points(page))
    page.wait_for_function(f"Number(document.getElementById('train-chart').dataset.points) > {seen[-1]}",
                           timeout=120_000)
    seen.append(_points(page))
    assert seen == sorted(seen) and len(set(seen)) == 3  # drawn as it came: updated at least twice
    page.wait_for_selector("#train-rolls img")  # a checkpoint's piano roll
    page.wait_for_function("document.getElementById('train-status').textContent.startsWith('done')",
                           timeout=240_000)
    assert page.inner_text("#train-status") == "done: five_chorales is installed", page.inner_text("#train-error")
    paths = page.eval_on_selector_all("#train-chart path", "ps => ps.map(p => p.getAttribute('d'))")
    assert all(d and d.count("L") >= 2 for d in paths), paths  # loss and validation loss, 3+ epochs each
    shot = screenshot_path("train-view.png", tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # The style is in the drop-down, selected, and composes.
    assert page.input_value("#style") == "five_chorales"
    page.select_option("#length-unit", "length")
    page.fill("#length", "30")
    page.uncheck("#audio")
    page.click("#compose")
    page.wait_for_function("document.getElementById('compose-status').textContent === 'done'", timeout=120_000)
    assert page.inner_text("#result-summary").startswith("five_chorales · seed")
    assert not errors, errors
    page.close()


@pytest.mark.tf
def test_cancel_keeps_the_run_and_resume_goes_on_from_it(served, browser):
    files = corpus_files("german_folk", 5)
    page = browser.new_page(viewport={"width": 1200, "height": 1200})
    page.goto(served.url)
    page.wait_for_selector("#style option[value=bach]", state="attached")
    page.set_input_files("#train-files", [str(f) for f in files])
    page.fill("#train-style", "cancelled_folk")
    page.select_option("#train-minutes", "5")
    page.click("#train-start")
    page.wait_for_function("Number(document.getElementById('train-chart').dataset.points) >= 2", timeout=240_000)
    page.click("#train-cancel")
    page.wait_for_function("document.getElementById('train-status').textContent.startsWith('cancelled')",
                           timeout=120_000)
    assert page.locator("#train-resume").is_visible()
    before = [int(e) for e in page.get_attribute("#train-chart", "data-epochs").split(",")]
    page.click("#train-resume")
    # The resumed run goes on from the saved epochs (the curve continues, it does not start again at 1).
    page.wait_for_function(f"Number(document.getElementById('train-chart').dataset.points) > {len(before)}",
                           timeout=240_000)
    epochs = [int(e) for e in page.get_attribute("#train-chart", "data-epochs").split(",")]
    assert epochs[: len(before)] == before and epochs == sorted(set(epochs)), epochs
    assert epochs[len(before)] in (before[-1] + 1, before[-1] + 2), (before, epochs)  # at most one epoch lost
    assert "training epoch" in page.inner_text("#train-status")
    page.click("#train-cancel")
    page.wait_for_function("document.getElementById('train-status').textContent.startsWith('cancelled')",
                           timeout=120_000)
    page.close()
