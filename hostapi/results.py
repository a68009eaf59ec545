"""Records that cross the host/plugin boundary.

Plugins return these, hosts display them. They are plain dataclasses so that a
host never has to guess at dict keys, and ``to_dict`` gives the JSON form used by
``voc-host --json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses as dicts and paths as strings, ready for ``json.dumps``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


@dataclass
class Progress(_Record):
    """One progress report: ``done`` of ``total`` units (``total`` None when unknown)."""

    stage: str  # "download", "train", "compose", "extract", ...
    done: float
    total: float | None = None
    unit: str = ""  # "B", "epoch", "event", ...
    message: str = ""
    # Named figures of this step for hosts that draw them (training: loss, val_loss, accuracy, ...).
    metrics: dict[str, float] = field(default_factory=dict)
    # Files this step wrote that a host may show (training: a checkpoint's sample as a piano roll, PNG).
    files: list[Path] = field(default_factory=list)


ProgressCallback = Callable[[Progress], None]
#: What a hook calls with a one-line note the user should see (e.g. "catalogue unreachable").
WarnCallback = Callable[[str], None]


@dataclass
class StyleInfo(_Record):
    """A style a plugin can compose in."""

    name: str
    title: str
    description: str = ""
    plugin: str = ""
    installed: bool = False
    needs_download: bool = False
    size_bytes: int | None = None
    version: str | None = None  # model version / epoch
    source: str = ""  # "bundled", "store", "catalogue"


@dataclass(frozen=True)
class Bound:
    """The values a numeric compose option may take: ``low`` .. ``high`` (``low`` itself excluded
    when ``open_low``)."""

    low: float
    high: float
    open_low: bool = False

    def admits(self, value: float) -> bool:
        return (self.low < value if self.open_low else self.low <= value) and value <= self.high

    def text(self) -> str:
        low = f"above {_num(self.low)}" if self.open_low else f"at least {_num(self.low)}"
        return low if self.high == float("inf") else f"{low} and at most {_num(self.high)}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class ComposeSetting:
    """One compose option as every host offers it: its ``ComposeOptions`` field, what it is (``kind``:
    ``int``, ``float``, ``text``, ``path`` or ``flag``), its bounds, its help text, the plugin's
    default as the help states it, and whether the page offers it (files are the server's to name)."""

    name: str
    kind: str
    help: str
    metavar: str | None = None
    bound: Bound | None = None
    default: str = ""  # the default in words, for the help text ("" when the help says it)
    page: bool = False
    choices: tuple[str, ...] = ()  # values the page suggests (a text setting still takes others)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def help_text(self) -> str:
        return f"{self.help} (default: {self.default})" if self.default else self.help

    def to_dict(self) -> dict[str, Any]:
        """The page's view: its form takes each input's bounds and tooltip from here."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "help": self.help_text()}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.bound is not None:
            d.update(min=self.bound.low, max=None if self.bound.high == float("inf") else self.bound.high,
                     open_low=self.bound.open_low)
        return d


#: Every compose option (beside the style, the model file and the output, which each host names its own
#: way), written once: both command lines build their options from it, the page its form and its checks,
#: and ``ComposeOptions.check`` refuses what is out of bounds for all three with the same words.
COMPOSE_SETTINGS: tuple[ComposeSetting, ...] = (
    ComposeSetting("force", "flag", "overwrite existing files (the MIDI, its variations, their WAVs and the piano roll)"),
    ComposeSetting("length", "int", "notes to compose (default 500; events, for older event-level models)", "N",
                   Bound(1, 20_000), page=True),
    ComposeSetting("seconds", "float", "compose about this many seconds instead of --length notes (whole bars)",
                   "S", Bound(0, float("inf"), open_low=True), page=True),  # the plugin caps the notes (and says so)
    ComposeSetting("seed", "int", "random seed: the same seed and model give the same file", "N",
                   Bound(0, 2**63 - 1), default="random", page=True),
    ComposeSetting("temperature", "float", "above 1 more adventurous, below 1 safer", "T",
                   Bound(0, 100, open_low=True), default="1", page=True),
    ComposeSetting("top_k", "int", "draw only from the K likeliest events", "K", Bound(1, 1_000_000)),
    ComposeSetting("top_p", "float", "draw only from the likeliest events that make up P of the probability", "P",
                   Bound(0, 1, open_low=True)),
    ComposeSetting("repetition_penalty", "float", "discourage recently used events (1 = off, e.g. 1.2)", "X",
                   Bound(1, 100), default="1"),
    ComposeSetting("variations", "int", "compose N variations at once (FILE-2.mid, FILE-3.mid, ...)", "N",
                   Bound(1, 64), default="1", page=True),
    ComposeSetting("primer", "path", "a MIDI file to continue", "FILE"),
    ComposeSetting("tempo", "float", "beats per minute", "BPM", Bound(10, 400), default="the style's", page=True),
    ComposeSetting("density", "float", "about D notes (onsets) per quarter note in every bar, e.g. 0.8 calm, 2.5 "
                   "busy (models with bar controls)", "D", Bound(0, 16, open_low=True), page=True),
    ComposeSetting("chords", "text", "the chord of each bar as roman numerals in the composition's key, repeated "
                   "to the end (models with bar controls; i iv V7 i is minor)", "'I vi IV V'", page=True),
    ComposeSetting("key", "text", "the key signature to compose in, e.g. D, Bb, 'F# minor' (the tonic's mode is "
                   "the music's; a minor key names its signature)", "KEY", default="drawn from the style's keys",
                   page=True, choices=("C", "G", "D", "A", "E", "F", "Bb", "Eb", "A minor", "E minor", "D minor",
                                       "G minor", "C minor")),
    ComposeSetting("metre", "text", "the time signature, e.g. 3/4 or 6/8", "N/D", default="drawn from the style's",
                   page=True, choices=("2/4", "3/4", "4/4", "2/2", "3/2", "6/8", "9/8", "12/8", "3/8")),
    ComposeSetting("instrument", "text", "the General MIDI instrument, by name (violin, flute, organ) or program "
                   "number 1-128; the WAV plays it too", "NAME|PROGRAM", default="the style's, else piano",
                   page=True, choices=("piano", "harpsichord", "church organ", "acoustic guitar (nylon)", "violin",
                                       "viola", "cello", "string ensemble 1", "flute", "oboe", "clarinet",
                                       "recorder", "trumpet", "french horn", "choir aahs", "orchestral harp",
                                       "music box", "celesta")),
    ComposeSetting("png", "flag", "also draw a piano roll next to the MIDI file (needs matplotlib)", page=True),
    ComposeSetting("musicxml", "flag", "also write the score as FILE.musicxml beside each MIDI file (the score "
                   "extra: music21)", page=True),
    ComposeSetting("audio", "flag", "also render a WAV next to each MIDI file (the audio extra, docs/audio.md)",
                   page=True),
    ComposeSetting("offline", "flag", "never download a model"),
)

#: The numeric options' bounds, from ``COMPOSE_SETTINGS``.
COMPOSE_BOUNDS: dict[str, Bound] = {s.name: s.bound for s in COMPOSE_SETTINGS if s.bound is not None}


@dataclass
class ComposeOptions(_Record):
    """What the user asked for when clicking Compose. ``None`` means the plugin's default."""

    out_path: Path | None = None
    length: int | None = None  # events
    seconds: float | None = None  # alternative to length
    seed: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    variations: int = 1
    primer: Path | None = None
    tempo: float | None = None  # bpm
    # Bar-level steering, for plugins that plan bars (the note models with controls):
    density: float | None = None  # about this many onsets per quarter note in every bar
    chords: str | None = None  # roman numerals in the composition's key, repeated: "I vi IV V"
    key: str | None = None  # key signature: "D", "Bb", "F# minor"
    metre: str | None = None  # time signature: "3/4"
    instrument: str | None = None  # General MIDI name or program number 1-128
    png: bool = False
    musicxml: bool = False  # also write the score (FILE.musicxml) beside each MIDI
    audio: bool = False  # also render the piece as audio (WAV) beside the MIDI
    offline: bool = False
    model: Path | None = None  # compose with this model file (its style must match ``style``)
    force: bool = False  # overwrite existing output files (otherwise the plugin refuses)
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ``BadValueError`` (one line naming the option) for a value out of its bounds."""
        from hostapi.errors import BadValueError

        for name, bound in COMPOSE_BOUNDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not bound.admits(value):
                raise BadValueError(f"{name.replace('_', '-')} must be {bound.text()}, not {value!r}")

    @classmethod
    def from_namespace(cls, ns: Any) -> ComposeOptions:
        """From parsed command-line options named like the fields (``output`` is ``out_path``).

        Both command lines (``voc-host compose`` and ``lstm-composer compose``) build their
        options here, so a new option means one new field, not two copies of a mapping.
        """
        given = vars(ns)
        # An option not given (None) keeps the field's default (variations 1, flags off).
        values = {f.name: given[f.name] for f in dataclasses.fields(cls) if given.get(f.name) is not None}
        if "output" in given:
            values["out_path"] = given["output"]
        return cls(**values)


@dataclass
class CompositionResult(_Record):
    """A written composition (the first of ``variations`` is ``path``)."""

    path: Path
    style: str
    seed: int
    duration_seconds: float
    events: int
    plugin: str = ""
    model_id: str = ""
    epoch: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    variations: list[Path] = field(default_factory=list)
    png_path: Path | None = None
    audio_path: Path | None = None  # the first variation's audio (``options.audio``)
    audio_variations: list[Path] = field(default_factory=list)  # one per variation
    musicxml_variations: list[Path] = field(default_factory=list)  # the scores, one per variation (``options.musicxml``)


@dataclass
class TrainOptions(_Record):
    epochs: int | None = None
    checkpoint_every: int | None = None
    recipe: str | None = None  # "default" | "reference"
    resume: bool = False
    epoch: int | None = None  # user override of the recommended epoch
    time_budget: float | None = None  # seconds of training at most (the run stops at the epoch that fills it)
    init_from: str | None = None  # start from these weights: an installed style ("corpus"), a run, a model file
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingResult(_Record):
    out_dir: Path
    style: str
    model_path: Path | None
    epochs_run: int
    recommended_epoch: int | None
    reason: str = ""
    metrics_path: Path | None = None
    plugin: str = ""


@dataclass
class RuntimeFinding(_Record):
    """One line of the runtime check: what was found and what it enables."""

    name: str  # "python", "numpy", "tensorflow", "gpu", "cudnn", ...
    ok: bool
    version: str | None = None
    detail: str = ""


@dataclass
class RuntimeReport(_Record):
    plugin: str
    findings: list[RuntimeFinding] = field(default_factory=list)
    capabilities: dict[str, str] = field(default_factory=dict)  # "compose" -> "ready (NumPy)"
    advice: list[str] = field(default_factory=list)


#: The model-manager actions both command lines offer (``voc-host models ACTION``).
MODELS_ACTIONS = {
    "list": "installed, bundled and downloadable styles",
    "fetch": "download styles' models from the catalogue",
    "install": "verify a trained model file and install it into the store",
    "verify": "re-hash every installed model",
    "repair": "download again what fails verification",
    "remove": "delete styles from the store",
    "pack": "download and install the whole model pack",
    "publish": "write a static catalogue (index.json, models, pack) for model files",
    "where": "show the store folder and the settings in force",
}


@dataclass
class ModelsRequest(_Record):
    """A model-manager command (``voc-host models ACTION ...``), parsed by the host.

    ``action`` is one of :data:`MODELS_ACTIONS`; the other fields are the arguments
    that action takes (unused ones keep their defaults). ``None`` settings mean the
    plugin's configuration (environment variables, config file).
    """

    action: str = "list"
    styles: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # install: model files; publish: IN, OUT
    all: bool = False  # fetch every style in the catalogue
    force: bool = False  # fetch/install again even if installed
    refresh: bool = False  # list: ask the catalogue now, not its cache
    keep: bool = False  # pack: keep the pack file after installing
    base_url: str | None = None  # publish: absolute URL the folder will be served at
    pack: bool = True  # publish: also build the model pack
    offline: bool = False
    allow_insecure: bool = False
    catalogue: str | None = None  # catalogue URL or folder
    home: Path | None = None  # store folder


@dataclass
class ModelsResult(_Record):
    """The answer of a plugin's model manager to a :class:`ModelsRequest`.

    ``text`` is what a console host prints; ``data`` is the same content for
    ``--json`` (any JSON-able value, dataclasses included). ``ok`` False means the
    action ran but did not succeed (e.g. a verify found a bad file): exit code 1.
    ``warnings`` are one-line notes (e.g. the catalogue could not be read).
    """

    action: str
    plugin: str = ""
    ok: bool = True
    text: str = ""
    data: Any = None
    warnings: list[str] = field(default_factory=list)


# Host-side records: what the host knows about its plugins. Hosts display them
# (``voc-host plugins``, ``--json``); plugins never return them.


@dataclass
class PluginInfo(_Record):
    """A plugin that loaded and passed validation."""

    name: str
    version: str | None = None
    source: str = ""  # "entry point pkg.mod (dist 1.0)", "module pkg.mod", "object"
    hooks: list[str] = field(default_factory=list)


@dataclass
class BrokenPlugin(_Record):
    """A plugin that could not be used, and why (one line; ``traceback`` for debugging)."""

    name: str
    reason: str
    stage: str  # "import" | "register" | "validate" | "missing"
    source: str = ""
    traceback: str = ""


@dataclass
class SkippedPlugin(_Record):
    """A plugin not loaded on purpose (an environment variable excluded it)."""

    name: str
    reason: str
    source: str = ""


@dataclass
class PluginWarning(_Record):
    """A one-line note a plugin passed to its ``warn`` callback (the hook still answered)."""

    plugin: str
    message: str

    def line(self) -> str:
        return f"{self.plugin}: {self.message}"


@dataclass
class HookFailure(_Record):
    """One plugin's hook implementation raised (or returned the wrong type)."""

    plugin: str
    hook: str
    error: str  # one line: the exception's message
    error_type: str
    user_error: bool = False  # hostapi.UserError: a mistake the user can fix
    traceback: str = ""
    exit_code: int | None = None  # a UserError's exit_code

    def line(self) -> str:
        """The one-line form a console host prints."""
        if self.user_error:
            return f"{self.plugin}: {self.error}"
        return f"{self.plugin}: {self.hook} failed: {self.error_type}: {self.error}"
