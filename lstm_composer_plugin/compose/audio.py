"""MIDI → WAV with a General MIDI SoundFont (the ``audio`` extra).

The renderer is ``midirenderer`` (a Rust wheel around rustysynth, a SoundFont
synthesiser with reverb and chorus; no system libraries). docs/audio.md says why it
was chosen over ``tinysoundfont``. The SoundFont is found in this order:

1. ``LSTM_COMPOSER_SOUNDFONT`` (a ``.sf2`` file; an error if it is not one);
2. the system's General MIDI SoundFonts (Debian's ``fluid-soundfont-gm`` and
   ``timgm6mb-soundfont`` install into ``/usr/share/sounds/sf2``; other
   distributions use ``/usr/share/soundfonts``).

Rendering stops at the MIDI file's own end, which would cut the last notes' release,
so the file is first given a silent tail (its end-of-track moved later) and the
result is then scaled so that its peak sits at :data:`TARGET_PEAK_DBFS`.
Everything that can be missing is reported by :func:`check_audio` as one line
naming the problem and the install command, before anything slow runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import math
import os
import threading
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import numpy as np

from hostapi.results import Progress
from lstm_composer_plugin.errors import ComposerError

AUDIO_EXTRA = "pip install 'lstm-composer-plugin[audio]'"
SOUNDFONT_APT = "apt-get install fluid-soundfont-gm"
ENV_SOUNDFONT = "LSTM_COMPOSER_SOUNDFONT"
RENDERER = "midirenderer"
# Best first: FluidR3 (MIT, 141 MB) sounds fuller than TimGM6mb (GPL-2, 6 MB).
SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
RELEASE_TAIL_S = 2.0  # room for the last notes' release and the reverb to die away
TARGET_PEAK_DBFS = -1.0  # headroom against inter-sample peaks after lossy re-encoding


@dataclass(frozen=True)
class AudioSetup:
    """What :func:`check_audio` found: the renderer's version and the SoundFont to use."""

    renderer_version: str
    soundfont: Path


@dataclass(frozen=True)
class RenderedAudio:
    """A written WAV file and what it measures."""

    path: Path
    seconds: float
    sample_rate: int
    peak_dbfs: float  # after normalising; -inf for silence
    rms_dbfs: float


def renderer_version() -> str | None:
    """The installed renderer's version, or None if it cannot be imported (nothing is loaded)."""
    try:
        if importlib.util.find_spec(RENDERER) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        return importlib.metadata.version(RENDERER)
    except importlib.metadata.PackageNotFoundError:
        return "?"  # importable but without metadata (a source checkout on the path)


def find_soundfont(
    env: Mapping[str, str] | None = None, search: Sequence[Path] = SYSTEM_SOUNDFONTS
) -> Path:
    """The SoundFont to render with; raises a one-line :class:`ComposerError` if there is none."""
    env = os.environ if env is None else env
    chosen = env.get(ENV_SOUNDFONT, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ComposerError(f"{ENV_SOUNDFONT}={chosen!r}: no such SoundFont file")
        with path.open("rb") as fh:
            head = fh.read(12)
        # A SoundFont 2 file is a RIFF container of form "sfbk".
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise ComposerError(f"{ENV_SOUNDFONT}={chosen!r}: not a SoundFont 2 (.sf2) file")
        return path
    for path in search:
        if path.is_file():
            return path.resolve()
    folders = ", ".join(sorted({str(p.parent) for p in search})) or "nowhere"
    raise ComposerError(
        f"--audio needs a General MIDI SoundFont and none was found (looked in {folders}): "
        f"{SOUNDFONT_APT}, or set {ENV_SOUNDFONT}=FILE.sf2"
    )


def check_audio(
    env: Mapping[str, str] | None = None, search: Sequence[Path] = SYSTEM_SOUNDFONTS
) -> AudioSetup:
    """Everything rendering needs, or a one-line :class:`ComposerError` (exit 1) saying how to get it."""
    version = renderer_version()
    if version is None:
        raise ComposerError(f"--audio needs {RENDERER}, which is not installed: {AUDIO_EXTRA}")
    return AudioSetup(version, find_soundfont(env, search))


def midi_with_tail(midi_bytes: bytes, tail_s: float, *, name: str = "MIDI") -> tuple[bytes, float]:
    """The MIDI file with its end moved ``tail_s`` seconds later, and its length before that."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(midi_bytes))
        length = midi.length
    except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as exc:
        raise ComposerError(f"{name}: cannot read the MIDI file ({exc})") from None
    if not midi.tracks:
        raise ComposerError(f"{name}: the MIDI file has no tracks")
    # The tempo at the end sets how many ticks make the tail.
    tempo = 500_000
    for message in mido.merge_tracks(midi.tracks):
        if message.type == "set_tempo":
            tempo = message.tempo
    tail_ticks = round(tail_s * 1e6 / tempo * midi.ticks_per_beat)
    # Lengthen the track that ends last (type 0 has only one; in type 1 it sets the end).
    last = max(midi.tracks, key=lambda track: sum(m.time for m in track))
    index = midi.tracks.index(last)
    body = [m for m in last if m.type != "end_of_track"]
    ends = [m for m in last if m.type == "end_of_track"]
    end_delta = ends[0].time if ends else 0
    midi.tracks[index] = mido.MidiTrack(
        [*body, mido.MetaMessage("end_of_track", time=end_delta + tail_ticks)]
    )
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue(), float(length)


def normalise(samples: np.ndarray, peak_dbfs: float = TARGET_PEAK_DBFS) -> np.ndarray:
    """int16 samples scaled so their peak is ``peak_dbfs`` (silence stays silence)."""
    peak = int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0
    if peak == 0:
        return samples
    gain = np.float32(10 ** (peak_dbfs / 20) * 32767 / peak)
    # The loudest sample lands at or below the target, so nothing can clip (peak_dbfs <= 0).
    return np.rint(samples.astype(np.float32) * gain).astype(np.int16)


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else float("-inf")


def _interruptible(render: Callable[[], bytes], midi_path: Path) -> bytes:
    """Run the native renderer in a worker thread and wait for it in short steps, so that Ctrl-C
    reaches the main thread at once (a native call does not see it for seconds). The worker only
    computes bytes: if the wait is interrupted, nothing it finishes afterwards is written."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["wave"] = render()
        except (ValueError, RuntimeError) as exc:
            box["error"] = exc

    worker = threading.Thread(target=work, name="midirenderer", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in box:
        raise ComposerError(f"{midi_path}: the renderer failed ({box['error']})") from None
    return box["wave"]


def render_wav(
    midi_path: str | os.PathLike[str],
    wav_path: str | os.PathLike[str] | None = None,
    *,
    setup: AudioSetup | None = None,
    tail_s: float = RELEASE_TAIL_S,
    peak_dbfs: float = TARGET_PEAK_DBFS,
) -> RenderedAudio:
    """Render ``midi_path`` to a WAV file (default: beside it, ``.wav``), written atomically."""
    from model_store.atomic import atomic_file

    setup = setup or check_audio()
    midi_path = Path(midi_path)
    wav_path = Path(wav_path) if wav_path is not None else midi_path.with_suffix(".wav")
    try:
        midi_bytes = midi_path.read_bytes()
        soundfont = setup.soundfont.read_bytes()
    except OSError as exc:
        raise ComposerError(f"{exc.filename}: cannot read ({exc.strerror or exc})") from None
    padded, _ = midi_with_tail(midi_bytes, tail_s, name=str(midi_path))
    import midirenderer

    rendered = _interruptible(lambda: midirenderer.render_wave_from(soundfont, padded), midi_path)
    with wave.open(io.BytesIO(rendered)) as src:
        rate, channels, width = src.getframerate(), src.getnchannels(), src.getsampwidth()
        frames = src.readframes(src.getnframes())
    if width != 2:  # midirenderer writes 16-bit PCM; anything else is a new version's surprise
        raise ComposerError(f"{midi_path}: the renderer wrote {8 * width}-bit audio, expected 16")
    samples = normalise(np.frombuffer(frames, dtype="<i2"), peak_dbfs)
    try:
        with atomic_file(wav_path) as fh, wave.open(fh, "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples.astype("<i2").tobytes())
    except OSError as exc:
        raise ComposerError(f"{wav_path}: cannot write ({exc.strerror or exc})") from None
    as_float = samples.astype(np.float64) / 32768
    peak = float(np.abs(as_float).max()) if samples.size else 0.0
    rms = float(np.sqrt(np.mean(as_float**2))) if samples.size else 0.0
    return RenderedAudio(
        path=wav_path,
        seconds=samples.size / channels / rate,
        sample_rate=rate,
        peak_dbfs=_dbfs(peak),
        rms_dbfs=_dbfs(rms),
    )


def render_beside(
    midi_paths: list[Path],
    setup: AudioSetup | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> list[Path]:
    """A WAV beside each MIDI file (``x.mid`` → ``x.wav``); the compose path's one call."""
    setup = setup or check_audio()
    notify = progress or (lambda _p: None)
    written = []
    for done, path in enumerate(midi_paths):
        notify(Progress("audio", done, len(midi_paths), "file", f"rendering {path.name}"))
        written.append(render_wav(path, setup=setup).path)
    notify(Progress("audio", len(midi_paths), len(midi_paths), "file", "audio rendered"))
    return written
