"""Audio rendering (the ``audio`` extra): real MIDI files through the real renderer and SoundFont.

The rendering tests need ``midirenderer`` and a General MIDI SoundFont (``.ci/run`` installs
Debian's fluid-soundfont-gm); without them they skip and say which is missing. The error
paths (no renderer, no SoundFont, a wrong file) run everywhere, in child interpreters where
the renderer has to look absent.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from hostapi import ComposeOptions, Host
from lstm_composer_plugin.compose import audio
from lstm_composer_plugin.compose.audio import (
    AUDIO_EXTRA,
    ENV_SOUNDFONT,
    RELEASE_TAIL_S,
    check_audio,
    find_soundfont,
    midi_with_tail,
    normalise,
    render_wav,
)
from lstm_composer_plugin.errors import ComposerError
from lstm_composer_plugin.runtime import check_runtime

REPO = Path(__file__).resolve().parents[1]

# Put first on PYTHONPATH of a child interpreter, this makes the renderer look uninstalled.
BLOCK_RENDERER = textwrap.dedent(
    """
    import sys

    class _BlockRenderer:
        def find_spec(self, name, path=None, target=None):
            if name == "midirenderer" or name.startswith("midirenderer."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _BlockRenderer())
    """
)


@pytest.fixture(scope="module")
def setup() -> audio.AudioSetup:
    try:
        return check_audio()
    except ComposerError as exc:
        pytest.skip(f"audio rendering unavailable here: {exc}")


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames, w.getframerate(), w.getnchannels()


def dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def check_wav_matches(wav: Path, midi: Path) -> None:
    samples, rate, channels = read_wav(wav)
    seconds = samples.size / channels / rate
    midi_seconds = mido.MidiFile(midi).length
    assert abs(seconds - midi_seconds) <= 3.0, (seconds, midi_seconds)
    assert seconds >= midi_seconds  # the release tail is added, never cut
    as_float = samples.astype(np.float64) / 32768
    assert dbfs(float(np.sqrt(np.mean(as_float**2)))) > -40  # music, not silence
    assert abs(dbfs(float(np.abs(as_float).max())) - audio.TARGET_PEAK_DBFS) < 0.1


def test_a_corpus_piece_renders_with_its_length_and_a_normalised_peak(setup, corpus_dir, tmp_path):
    midi = sorted((corpus_dir / "bach").glob("*.mid"))[0]
    rendered = render_wav(midi, tmp_path / "piece.wav", setup=setup)
    assert rendered.path == tmp_path / "piece.wav"
    check_wav_matches(rendered.path, midi)
    assert abs(rendered.seconds - (mido.MidiFile(midi).length + RELEASE_TAIL_S)) < 0.05
    assert abs(rendered.peak_dbfs - audio.TARGET_PEAK_DBFS) < 0.1
    assert rendered.rms_dbfs > -40
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left nothing behind


def test_compose_with_audio_writes_a_wav_beside_each_variation(setup, tmp_path):
    host = Host()
    out = tmp_path / "bach.mid"
    result = host.compose(
        "bach", ComposeOptions(out_path=out, seconds=20, seed=3, variations=2, audio=True)
    )
    assert result.audio_path == tmp_path / "bach.wav"
    assert result.audio_variations == [tmp_path / "bach.wav", tmp_path / "bach-2.wav"]
    for midi, wav in zip(result.variations, result.audio_variations, strict=True):
        check_wav_matches(wav, midi)


def test_compose_without_audio_writes_no_wav(tmp_path):
    result = Host().compose("bach", ComposeOptions(out_path=tmp_path / "b.mid", length=30, seed=1))
    assert result.audio_path is None and result.audio_variations == []
    assert not list(tmp_path.glob("*.wav"))


def test_the_tail_lengthens_the_file_by_its_seconds(corpus_dir):
    midi = sorted((corpus_dir / "bach").glob("*.mid"))[0]
    padded, length = midi_with_tail(midi.read_bytes(), 2.0)
    out = mido.MidiFile(file=io.BytesIO(padded))
    assert abs(out.length - (length + 2.0)) < 0.01
    notes = [m for m in mido.merge_tracks(out.tracks) if m.type == "note_on"]
    assert len(notes) == sum(
        1 for m in mido.merge_tracks(mido.MidiFile(midi).tracks) if m.type == "note_on"
    )


def test_normalise_scales_the_peak_and_keeps_silence():
    loud = np.array([0, 1000, -2000, 500], dtype=np.int16)
    scaled = normalise(loud, -1.0)
    assert abs(dbfs(np.abs(scaled.astype(float)).max() / 32767) + 1.0) < 0.01
    assert np.array_equal(normalise(np.zeros(8, dtype=np.int16)), np.zeros(8, dtype=np.int16))


def test_soundfont_override_must_exist_and_be_a_soundfont(tmp_path):
    with pytest.raises(ComposerError, match=f"{ENV_SOUNDFONT}=.*no such SoundFont file"):
        find_soundfont({ENV_SOUNDFONT: str(tmp_path / "missing.sf2")})
    not_sf2 = tmp_path / "notes.sf2"
    not_sf2.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(ComposerError, match="not a SoundFont 2"):
        find_soundfont({ENV_SOUNDFONT: str(not_sf2)})


def test_no_soundfont_anywhere_says_how_to_install_one(tmp_path):
    with pytest.raises(ComposerError) as err:
        find_soundfont({}, search=[tmp_path / "FluidR3_GM.sf2"])
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install fluid-soundfont-gm" in message and ENV_SOUNDFONT in message


def test_the_override_wins_over_the_system_soundfont(setup, tmp_path):
    copy = tmp_path / "mine.sf2"
    copy.symlink_to(setup.soundfont)
    assert find_soundfont({ENV_SOUNDFONT: str(copy)}) == copy


def _child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCK_RENDERER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_without_the_renderer_audio_fails_before_composing(tmp_path):
    out = tmp_path / "never.mid"
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from hostapi import ComposeOptions, Host, PluginCallError
        try:
            Host().compose("bach", ComposeOptions(out_path=Path({str(out)!r}), audio=True))
        except PluginCallError as exc:
            print(exc)
        """
    )
    proc = _child(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"--audio needs midirenderer, which is not installed: {AUDIO_EXTRA}" in proc.stdout
    assert not out.exists()  # checked before composing: nothing written


def test_doctor_reports_renderer_and_soundfont(setup, tmp_path):
    report = check_runtime()
    findings = {f.name: f for f in report.findings}
    assert findings["midirenderer"].ok and findings["midirenderer"].version
    assert findings["soundfont"].ok and str(setup.soundfont) in findings["soundfont"].detail
    assert report.capabilities["audio"].startswith("ready (midirenderer")
    proc = _child(
        "from lstm_composer_plugin.runtime import check_runtime\n"
        "r = check_runtime(); print(r.capabilities['audio']); print(r.advice)",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "unavailable: midirenderer is not installed" in proc.stdout
    assert AUDIO_EXTRA in proc.stdout


# -- the command lines ----------------------------------------------------------------------

LSTM_COMPOSER = [sys.executable, "-m", "lstm_composer_plugin.cli"]
VOC_HOST = [sys.executable, "-m", "hostapi.cli"]


def _run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env or dict(os.environ), timeout=300, cwd=REPO
    )


@pytest.mark.parametrize(
    "command",
    [[*LSTM_COMPOSER, "compose", "--style", "bach"], [*VOC_HOST, "compose", "bach"]],
    ids=["lstm-composer", "voc-host"],
)
def test_compose_audio_on_the_command_line_writes_the_wav(setup, tmp_path, command):
    midi = tmp_path / "bach.mid"
    proc = _run([*command, "--audio", "-o", str(midi), "--seconds", "15", "--seed", "1"])
    assert proc.returncode == 0, proc.stderr
    check_wav_matches(tmp_path / "bach.wav", midi)
    assert f"audio {tmp_path / 'bach.wav'}" in proc.stdout


def test_an_existing_wav_is_kept_without_force(setup, tmp_path):
    (tmp_path / "bach.wav").write_bytes(b"mine")
    base = [*LSTM_COMPOSER, "compose", "--style", "bach", "--audio", "-o", str(tmp_path / "bach.mid")]
    proc = _run([*base, "--length", "20"])
    assert proc.returncode == 1 and "bach.wav exists" in proc.stderr
    assert (tmp_path / "bach.wav").read_bytes() == b"mine" and not (tmp_path / "bach.mid").exists()
    assert _run([*base, "--length", "20", "--force"]).returncode == 0
    assert (tmp_path / "bach.wav").read_bytes()[:4] == b"RIFF"


def test_the_cli_without_the_renderer_says_how_to_install_it(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_RENDERER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    out = tmp_path / "never.mid"
    proc = _run([*LSTM_COMPOSER, "compose", "--style", "bach", "--audio", "-o", str(out)], env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and AUDIO_EXTRA in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()
