"""The composition as a score and as an instrument (issue 22): ``--musicxml``, ``--instrument``, ``--key``, ``--metre``.

Real files all the way: the bundled bach composes through the command line, mido reads the MIDI back, music21
parses the MusicXML, and the audio extra renders the WAV with the SoundFont.
"""

from __future__ import annotations

import subprocess
import sys
import wave
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest

from lstm_composer_plugin.music.instruments import parse_instrument, program_name, style_program
from lstm_composer_plugin.music.keys import key_fifths, parse_key
from lstm_composer_plugin.music.midi import read_midi


def compose(tmp_path: Path, *args: str, name: str = "piece.mid") -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / name
    proc = subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "compose", "bach", "--offline",
                           "-o", str(out), *args], capture_output=True, text=True, timeout=300)
    return proc, out


def score_onsets(path: Path) -> tuple[Counter, object]:
    """(onset in 1/12 quarter, MIDI pitch) of every note the score sounds: a tied note counts once."""
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse(str(path))
    onsets: Counter = Counter()
    for element in score.recurse().notes:
        offset = float(element.getOffsetInHierarchy(score))
        members = element.notes if element.isChord else [element]
        for note in members:
            tie = note.tie if note.tie is not None else element.tie
            if tie is None or tie.type == "start":
                onsets[(round(offset * 12), note.pitch.midi)] += 1
    return onsets, score


def midi_onsets(path: Path) -> Counter:
    return Counter((round(n.start * 12), n.pitch) for n in read_midi(path).notes)


def test_musicxml_has_the_midis_notes_onsets_key_and_metre(tmp_path):
    pytest.importorskip("music21")
    proc, out = compose(tmp_path, "--seed", "11", "--length", "240", "--musicxml", "--key", "Eb", "--metre", "3/4")
    assert proc.returncode == 0, proc.stderr
    xml = out.with_suffix(".musicxml")
    assert f"score {xml}" in proc.stdout
    onsets, score = score_onsets(xml)
    assert onsets == midi_onsets(out)  # the same notes at the same onsets, ties joined
    assert sum(onsets.values()) == len(read_midi(out).notes) >= 200
    signatures = {ks.sharps for ks in score.recurse().getElementsByClass("KeySignature")}
    assert signatures == {-3}  # E flat major / C minor
    assert {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")} == {"3/4"}
    # The MIDI says the same: its own key signature and metre.
    meta = {m.type: m for m in mido.MidiFile(out).tracks[0] if m.is_meta}
    assert meta["key_signature"].key in ("Eb", "Cm")
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (3, 4)
    # Bars: 3 quarters each; a chorale-like texture goes on a grand staff, voices numbered from 1.
    measures = score.parts[0].getElementsByClass("Measure")
    assert all(m.barDuration.quarterLength == 3 for m in measures)
    text = xml.read_text()
    assert "<voice>0</voice>" not in text
    assert len(score.parts) == 2 and "<sign>F</sign>" in text and "<sign>G</sign>" in text


def test_musicxml_for_every_variation_and_the_same_seed_gives_the_same_score(tmp_path):
    pytest.importorskip("music21")
    proc, out = compose(tmp_path, "--seed", "4", "--length", "120", "--musicxml", "--variations", "2")
    assert proc.returncode == 0, proc.stderr
    second = out.with_name("piece-2.musicxml")
    assert out.with_suffix(".musicxml").is_file() and second.is_file()
    assert score_onsets(second)[0] == midi_onsets(out.with_name("piece-2.mid"))
    again, out2 = compose(tmp_path, "--seed", "4", "--length", "120", "--musicxml", "--variations", "2", name="b.mid")
    assert again.returncode == 0
    assert out2.read_bytes() == out.read_bytes().replace(b"piece", b"piece")  # same MIDI bytes for the same seed
    assert score_onsets(out2.with_suffix(".musicxml"))[0] == score_onsets(out.with_suffix(".musicxml"))[0]


def test_instrument_violin_is_program_41_in_the_midi(tmp_path):
    proc, out = compose(tmp_path, "--seed", "2", "--length", "60", "--instrument", "violin")
    assert proc.returncode == 0, proc.stderr
    programs = [m.program for m in mido.MidiFile(out).tracks[0] if m.type == "program_change"]
    assert programs == [40]  # General MIDI 41, the byte mido reads
    texts = " ".join(m.text for m in mido.MidiFile(out).tracks[0] if m.type == "text")
    assert "seed=2" in texts
    by_number, _ = compose(tmp_path, "--seed", "2", "--length", "60", "--instrument", "41", name="n.mid")
    assert by_number.returncode == 0
    assert (tmp_path / "n.mid").read_bytes() == out.read_bytes().replace(b"piece", b"piece")


def test_piano_by_default_and_a_style_may_suggest_its_own():
    assert style_program("bach") == 0 and program_name(0) == "acoustic grand piano"
    assert style_program("fiddle") == 40 == parse_instrument("fiddle") == parse_instrument("Violin")
    assert parse_instrument("128") == 127 and parse_instrument("church_organ") == 19


@pytest.mark.parametrize(("args", "message"), [
    (["--instrument", "violn"], "instrument: no General MIDI instrument 'violn' (did you mean 'violin'"),
    (["--instrument", "0"], "instrument: a General MIDI program is 1 to 128"),
    (["--key", "H"], "key: 'H' is not a key"),
    (["--metre", "3/5"], "metre: '3/5' is not a time signature"),
    (["--metre", "13/8"], "metre: the model writes"),
])
def test_bad_instrument_key_or_metre_is_one_line_and_writes_nothing(tmp_path, args, message):
    proc, out = compose(tmp_path, "--length", "20", *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_key_names_and_signatures():
    assert parse_key("F# minor").major_tonic == 9 and parse_key("c#m").minor
    assert [key_fifths(parse_key(k).major_tonic) for k in ("C", "G", "F", "Bb", "D minor", "F#", "Db")] == \
        [0, 1, -1, -2, -1, 6, -5]


def test_the_wav_is_rendered_with_the_instrument(tmp_path):
    from lstm_composer_plugin.compose import audio

    try:
        audio.check_audio()
    except Exception as exc:  # the audio extra or the SoundFont is missing here
        pytest.skip(f"audio rendering unavailable here: {exc}")

    def attack(path: Path) -> float:
        """How much of a note's loudness sounds in its first 40 ms: high for a struck string, low for a bowed one."""
        with wave.open(str(path)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)[:: w.getnchannels()]
            rate = w.getframerate()
        # The piece's first chord: 40 ms from its start against the 40 ms at 200 ms.
        start = int(np.argmax(np.abs(x) > 0.02 * np.abs(x).max()))
        head = np.sqrt(np.mean(x[start : start + rate // 25] ** 2))
        body = np.sqrt(np.mean(x[start + rate // 5 : start + rate // 5 + rate // 25] ** 2))
        return head / body

    for name in ("piano", "violin"):
        proc, _ = compose(tmp_path, "--seed", "3", "--length", "40", "--audio", "--instrument", name,
                          "--tempo", "60", name=f"{name}.mid")
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "piano.wav").read_bytes() != (tmp_path / "violin.wav").read_bytes()
    # A piano's note is loudest as it is struck; a violin's swells as the bow takes the string.
    assert attack(tmp_path / "piano.wav") > 1.5 * attack(tmp_path / "violin.wav")
