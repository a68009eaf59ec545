"""Audio rendering speed: 60 s of composed music to a normalised WAV, and its ratio to realtime.

    python bench/audio_render.py                 # bach (bundled), 60 s, 5 runs
    python bench/audio_render.py --seconds 120 --runs 3 --midi FILE.mid

Composes the piece once (seed 1), then renders it ``--runs`` times with
``lstm_composer_plugin.compose.audio.render_wav`` (SoundFont read, synthesis,
normalising, the atomic WAV write: what ``compose --audio`` adds) and, side by
side in the same process, the renderer's bare call on the same bytes (synthesis
alone), so the cost of our own steps shows as a ratio. Prints median seconds and
the ratio of audio length to rendering time (higher is faster than realtime).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostapi import ComposeOptions, Host  # noqa: E402
from lstm_composer_plugin.compose.audio import (  # noqa: E402
    RELEASE_TAIL_S,
    check_audio,
    midi_with_tail,
    render_wav,
)


def tinysoundfont_time(soundfont: Path, midi: bytes, seconds: float, runs: int) -> float | None:
    """The other candidate on the same bytes, when installed (``pip install --no-deps
    tinysoundfont``: its pyaudio dependency needs PortAudio's headers to build)."""
    try:
        import tinysoundfont
    except ImportError:
        print("  (tinysoundfont not installed: no side-by-side figure)")
        return None
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        synth = tinysoundfont.Synth(samplerate=48_000)
        synth.sfload(str(soundfont))
        sequencer = tinysoundfont.Sequencer(synth)
        sequencer.add(tinysoundfont.midi.load_memory(midi))
        synth.generate(int(seconds * 48_000))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", default="bach")
    parser.add_argument("--seconds", type=float, default=60.0, help="music to compose and render")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--midi", type=Path, help="render this file instead of composing one")
    args = parser.parse_args()

    setup = check_audio()
    print(f"renderer midirenderer {setup.renderer_version}, SoundFont {setup.soundfont} "
          f"({setup.soundfont.stat().st_size / 1e6:.0f} MB)")
    with tempfile.TemporaryDirectory() as tmp:
        midi = args.midi
        if midi is None:
            options = ComposeOptions(out_path=Path(tmp) / "piece.mid", seconds=args.seconds, seed=1)
            result = Host().compose(args.style, options)
            midi = result.path
            print(f"composed {args.style}: {result.events} events, {result.duration_seconds:.1f} s")
        import midirenderer

        soundfont = setup.soundfont.read_bytes()
        padded, _ = midi_with_tail(midi.read_bytes(), RELEASE_TAIL_S)
        bare, ours, cpu, audio_seconds = [], [], [], 0.0
        for _ in range(args.runs):
            start = time.perf_counter()
            midirenderer.render_wave_from(soundfont, padded)
            bare.append(time.perf_counter() - start)
            start, start_cpu = time.perf_counter(), time.process_time()
            rendered = render_wav(midi, Path(tmp) / "piece.wav", setup=setup)
            ours.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            audio_seconds = rendered.seconds
    t_bare, t_ours = statistics.median(bare), statistics.median(ours)
    print(f"audio {audio_seconds:.1f} s (music + {RELEASE_TAIL_S:g} s tail), median of {args.runs} runs")
    rows = [("midirenderer alone (synthesis)", t_bare), ("render_wav (+ read, normalise, write)", t_ours)]
    other = tinysoundfont_time(setup.soundfont, padded, audio_seconds, args.runs)
    if other is not None:
        rows.append(("tinysoundfont (load + synthesis)", other))
    for name, seconds in rows:
        print(f"  {name:<40} {seconds:6.2f} s  {audio_seconds / seconds:6.1f}x realtime")
    # CPU time is what a busy machine cannot inflate: the wall time on an idle core.
    print(f"render_wav CPU time {statistics.median(cpu):.2f} s "
          f"({audio_seconds / statistics.median(cpu):.1f}x realtime); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"render_wav costs {t_ours / t_bare:.2f}x the bare renderer call; "
          f"peak {rendered.peak_dbfs:.2f} dBFS, RMS {rendered.rms_dbfs:.1f} dBFS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
