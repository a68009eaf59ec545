"""What drawing bars again costs at compose time: retries off, the default without the clash redraws, and the
default, side by side.

    python bench/compose_retries.py                          # the bundled bach model, 60 s of music
    python bench/compose_retries.py --model catalogue/models/chopin-e0005.lstmc --runs 7

In one process, the same model composes ``--seconds`` of music with each seed of ``--runs``: with no bar
retries, with the composer's default retries (``note_composer.BAR_RETRIES``) but no bar drawn again for its
semitone clashes (``extra={"clashes": None}``), and at the default, interleaved so that a neighbour's load
falls on all alike; the medians and their ratio are
printed, with the share of bars keeping their chord root. Then the user's whole command
(``lstm-composer compose --seconds …``, the default) is timed as a process, best of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostapi.results import ComposeOptions  # noqa: E402
from lstm_composer_plugin.compose.composer import compose  # noqa: E402
from lstm_composer_plugin.compose.note_composer import BAR_RETRIES  # noqa: E402
from lstm_composer_plugin.modelfile import read_manifest  # noqa: E402
from lstm_composer_plugin.models import bundled_models  # noqa: E402

ARMS = {"bar retries 0": {"bar_retries": 0}, f"bar retries {BAR_RETRIES}, no clash redraws": {"clashes": None},
        "default": {}}


def timed(model: Path, style: str, seconds: float, seed: int, extra: dict, out: Path) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    r = compose(style, ComposeOptions(out_path=out, seconds=seconds, seed=seed, offline=True, force=True,
                                      extra=extra), model_path=model)
    kept = (r.report.get("bar_controls") or {}).get("chord_root_kept")
    return time.perf_counter() - t0, kept


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model file (default: the bundled bach)")
    ap.add_argument("--seconds", type=float, default=60.0, help="music to compose (default 60 s)")
    ap.add_argument("--runs", type=int, default=5, help="seeds (default 5)")
    args = ap.parse_args(argv)
    model = args.model or bundled_models()["bach"]
    if not model.is_file():
        raise SystemExit(f"{model}: no such model file")
    style = str(read_manifest(model).get("style"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c.mid"
        timed(model, style, args.seconds, 0, {}, out)  # warm-up: imports, the model's first load
        rows: dict[str, list[tuple[float, float | None]]] = {k: [] for k in ARMS}
        for seed in range(1, args.runs + 1):
            for arm, extra in ARMS.items():
                rows[arm].append(timed(model, style, args.seconds, seed, extra, out))
        med = {k: statistics.median(t for t, _ in v) for k, v in rows.items()}
        print(f"{model.name}, {args.seconds:g} s of music, {args.runs} seeds, in process (median):")
        for k, v in rows.items():
            kept = [x for _, x in v if x is not None]
            share = f", chord root kept in {statistics.mean(kept):.1%} of bars" if kept else ""
            print(f"  {k}: {med[k]:.3f} s{share}")
        first = next(iter(ARMS))
        for k in list(ARMS)[1:]:
            print(f"  ratio {k} / {first}: {med[k] / med[first]:.2f}")
        whole = []
        for seed in range(1, args.runs + 1):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lstm_composer_plugin.cli", "compose", "-q", "--offline",
                            "--model", str(model), "--seconds", str(args.seconds), "--seed", str(seed),
                            "--force", "-o", str(out)], check=True)
            whole.append(time.perf_counter() - t0)
        print(f"whole process (default settings), best of {args.runs}: {min(whole):.3f} s, "
              f"median {statistics.median(whole):.3f} s (goal <= 1 s)")


if __name__ == "__main__":
    main()
