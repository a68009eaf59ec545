"""A working composer plugin with no model: it writes a short arpeggio with mido."""

from __future__ import annotations

import json
from pathlib import Path

import mido

from hostapi import (
    CompositionResult,
    ModelsResult,
    Progress,
    RuntimeFinding,
    RuntimeReport,
    StyleInfo,
    TrainingResult,
    UserError,
    hookimpl,
)

SCALE = (0, 2, 4, 5, 7, 9, 11, 12)


def write_arpeggio(path: Path, *, events: int, seed: int, tempo_bpm: float) -> float:
    """Write ``events`` eighth notes to ``path``; returns the file's length in seconds."""
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    for i in range(events):
        note = 60 + SCALE[(seed + 3 * i) % len(SCALE)]
        track.append(mido.Message("note_on", note=note, velocity=80, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=240))
    track.append(mido.MetaMessage("end_of_track", time=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(path)
    return mido.MidiFile(path).length


class DummyComposer:
    """Knows ``styles``; every hook records its call in ``calls`` for dispatch tests."""

    __version__ = "0.0.1"

    def __init__(self, plugin_name: str = "dummy", styles: tuple[str, ...] = ("waltz", "shared")):
        self.plugin_name = plugin_name
        self.styles = styles
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def list_styles(self) -> list[StyleInfo]:
        # Declares none of the spec's arguments: pluggy's opt-in arguments.
        self.calls.append(("list_styles", {}))
        return [
            StyleInfo(name=s, title=f"{s.title()} ({self.plugin_name})", installed=True)
            for s in self.styles
        ]

    @hookimpl
    def compose(self, style, options, progress) -> CompositionResult | None:
        self.calls.append(("compose", {"style": style, "options": options}))
        if style not in self.styles:
            return None
        seed = options.seed if options.seed is not None else 0
        events = options.length or 16
        out = Path(options.out_path or f"{style}-{seed}.mid")
        paths = [out] + [
            out.with_name(f"{out.stem}-{n}{out.suffix}") for n in range(2, options.variations + 1)
        ]
        seconds = 0.0
        for n, path in enumerate(paths):
            for i in range(events):
                progress(Progress("compose", i + 1, events, "event", f"variation {n + 1}"))
            length = write_arpeggio(
                path, events=events, seed=seed + n, tempo_bpm=options.tempo or 120
            )
            seconds = seconds or length  # the first file's length is the result's
        return CompositionResult(
            path=out,
            style=style,
            seed=seed,
            duration_seconds=seconds,
            events=events,
            model_id=f"{self.plugin_name}/{style}",
            variations=paths,
        )

    @hookimpl
    def train(self, corpus_dir, style, out_dir, options, progress) -> TrainingResult:
        self.calls.append(("train", {"corpus_dir": corpus_dir, "style": style, "options": options}))
        pieces = sorted(Path(corpus_dir).rglob("*.mid"))
        if not pieces:
            raise UserError(f"no .mid files in {str(corpus_dir)!r}")
        epochs = options.epochs or 2
        for epoch in range(1, epochs + 1):
            progress(Progress("train", epoch, epochs, "epoch"))
        out_dir.mkdir(parents=True, exist_ok=True)
        model = out_dir / f"{style}.json"
        model.write_text(json.dumps({"style": style, "pieces": len(pieces), "epochs": epochs}))
        return TrainingResult(
            out_dir=out_dir,
            style=style,
            model_path=model,
            epochs_run=epochs,
            recommended_epoch=options.epoch or epochs,
            reason="the dummy always recommends its last epoch",
        )

    @hookimpl
    def check_runtime(self, deep) -> RuntimeReport:
        return RuntimeReport(
            plugin="",  # the host fills in the name
            findings=[
                RuntimeFinding("mido", True, str(mido.version_info), "deep" if deep else "cheap")
            ],
            capabilities={"compose": "ready (arpeggios)"},
        )

    @hookimpl
    def manage_models(self, request) -> ModelsResult:
        action = request.action
        self.calls.append(("manage_models", {"request": request}))
        if action == "list":
            return ModelsResult(action, text="\n".join(self.styles), data=list(self.styles))
        if action == "verify":
            return ModelsResult(
                action, ok=False, text="shared: hash mismatch", data={"bad": ["shared"]}
            )
        raise UserError(f"models {action} is not supported (try: list, verify)")


class EagerComposer(DummyComposer):
    """Like the dummy, but its compose asks to run before everyone else's."""

    @hookimpl(tryfirst=True)
    def compose(self, style, options, progress):
        return super().compose(style, options, progress)


#: For ``voc-host -p tests.plugins.dummy:plugin`` (the plugin is then named "dummy").
plugin = DummyComposer()
