"""The note-level encoding's parameters and its fixed token table (see ``notes`` for the stream).

``NoteEncoding`` says how fine the grid is, how long a bar may be, the pitch range, the duration
list and the key handling; ``token_table`` lays the tokens out (ids stable for one encoding):

    SEP, BAR, TS:n/d (every n/d of the table), POS:0..max_bar-1, P:pitch_low..pitch_high, D:durations
    and, with ``controls``, the bar-level controls (``music.controls``): DEN:k, CH:root:quality, TEX:n

Every time signature, pitch and duration folds onto the table (``fold_*``), which is what makes
"no token out of vocabulary" hold by construction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lstm_composer_plugin.music.controls import N_CHORDS, N_DENSITY, TEXTURES, chord_name

KIND = "notes"
SEP = 0  # ends a piece, in both encodings (music.codec); never written as music
BAR = 1
GRID = 12
MAX_BAR_QUARTERS = 6  # 3/2, 6/4, 12/8; a longer bar (4/2, 3/1) is written as two halves
# Grid steps at GRID=12; chosen from the corpus's quantised note lengths (docs/tokens.md):
# every length up to a quarter, then the dotted and tied values that occur, capped at 4 bars of 4/4.
DURATIONS = (
    *range(1, 13),
    14, 15, 16, 18, 20, 21, 24, 27, 30, 33, 36, 42, 45, 48, 54, 60, 66, 72, 84, 96, 108, 120,
    144, 168, 192,
)  # fmt: skip
KEY_MODES = ("normalise", "augment", "none")
TS_DENOMINATORS = (1, 2, 4, 8, 16)
MAX_TS_NUMERATOR = 12


@dataclass(frozen=True)
class NoteEncoding:
    """The parameters of a note-level encoding; ``to_dict`` is stored in the model file."""

    grid: int = GRID  # steps per quarter note
    max_bar_quarters: int = MAX_BAR_QUARTERS
    pitch_low: int = 21  # A0..C8, the piano
    pitch_high: int = 108
    durations: tuple[int, ...] = DURATIONS
    key_mode: str = "normalise"  # "normalise" | "augment" | "none"
    # Bar-level control tokens after each BAR (density, chord, texture; ``music.controls``). Off in
    # the models trained before them, whose token ids and streams stay exactly as they were.
    controls: bool = False
    kind: str = field(default=KIND, init=False)

    def __post_init__(self) -> None:
        if self.key_mode not in KEY_MODES:
            raise ValueError(f"key_mode must be one of {KEY_MODES}, not {self.key_mode!r}")
        if not (0 <= self.pitch_low < self.pitch_high <= 127):
            raise ValueError(f"bad pitch range {self.pitch_low}..{self.pitch_high}")
        if not self.durations or list(self.durations) != sorted(set(self.durations)) or self.durations[0] < 1:
            raise ValueError("durations must be distinct positive grid steps in increasing order")
        if self.grid % 3 or self.grid < 3:
            raise ValueError(f"grid must be a multiple of 3 (sixteenths and triplets), not {self.grid}")

    @property
    def max_bar(self) -> int:
        """Longest bar, in grid steps (also the number of POS tokens)."""
        return self.max_bar_quarters * self.grid

    def to_dict(self) -> dict[str, Any]:
        d = {
            "kind": KIND,
            "grid": self.grid,
            "max_bar_quarters": self.max_bar_quarters,
            "pitch_low": self.pitch_low,
            "pitch_high": self.pitch_high,
            "durations": list(self.durations),
            "key_mode": self.key_mode,
        }
        if self.controls:  # absent in older records, which read back as controls off
            d["controls"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoteEncoding:
        if d.get("kind") != KIND:
            raise ValueError(f"not a note encoding (kind {d.get('kind')!r})")
        return cls(
            grid=int(d.get("grid", GRID)),
            max_bar_quarters=int(d.get("max_bar_quarters", MAX_BAR_QUARTERS)),
            pitch_low=int(d.get("pitch_low", 21)),
            pitch_high=int(d.get("pitch_high", 108)),
            durations=tuple(int(x) for x in d.get("durations", DURATIONS)),
            key_mode=str(d.get("key_mode", "normalise")),
            controls=bool(d.get("controls", False)),
        )


def is_note_encoding(record: dict[str, Any] | None) -> bool:
    """Whether a manifest's ``encoding`` record is a note-level one (else the old event encoding)."""
    return bool(record) and record.get("kind") == KIND


# -- the token table ---------------------------------------------------------------------


@dataclass(frozen=True)
class TokenTable:
    """Where each kind of token starts in the vocabulary (ids are stable for one encoding)."""

    encoding: NoteEncoding
    time_signatures: tuple[tuple[int, int], ...]
    ts0: int  # first TS token
    pos0: int  # POS:0
    p0: int  # P:pitch_low
    d0: int  # first D token
    den0: int  # first DEN token (== size without controls; then CH, then TEX)
    size: int

    @property
    def ch0(self) -> int:
        return self.den0 + N_DENSITY

    @property
    def tex0(self) -> int:
        return self.ch0 + N_CHORDS

    def den_token(self, k: int) -> int:
        return self.den0 + k

    def chord_token(self, index: int) -> int:
        return self.ch0 + index

    def tex_token(self, n: int) -> int:
        return self.tex0 + n - 1

    def ts_token(self, ts: tuple[int, int]) -> int:
        return self.ts0 + self.time_signatures.index(fold_time_signature(ts, self.encoding))

    def pos_token(self, k: int) -> int:
        return self.pos0 + k

    def pitch_token(self, pitch: int) -> int:
        return self.p0 + fold_pitch(pitch, self.encoding) - self.encoding.pitch_low

    def duration_token(self, steps: int) -> int:
        return self.d0 + nearest_duration(steps, self.encoding)

    def kind_of(self, tok: int) -> str:
        """'SEP', 'BAR', 'TS', 'POS', 'P', 'D', or a control: 'DEN', 'CH', 'TEX'."""
        if tok == SEP:
            return "SEP"
        if tok == BAR:
            return "BAR"
        if tok < self.pos0:
            return "TS"
        if tok < self.p0:
            return "POS"
        if tok < self.d0:
            return "P"
        if tok < self.den0:
            return "D"
        if tok < self.ch0:
            return "DEN"
        return "CH" if tok < self.tex0 else "TEX"

    def bar_steps(self, ts: tuple[int, int]) -> int:
        n, d = ts
        return n * 4 * self.encoding.grid // d


@functools.lru_cache(maxsize=16)
def token_table(enc: NoteEncoding) -> TokenTable:
    sigs = tuple(
        (n, d)
        for d in TS_DENOMINATORS
        for n in range(1, MAX_TS_NUMERATOR + 1)
        if n * 4 * enc.grid % d == 0 and n * 4 * enc.grid // d <= enc.max_bar
    )
    ts0 = 2
    pos0 = ts0 + len(sigs)
    p0 = pos0 + enc.max_bar
    d0 = p0 + enc.pitch_high - enc.pitch_low + 1
    den0 = d0 + len(enc.durations)
    size = den0 + (N_DENSITY + N_CHORDS + TEXTURES if enc.controls else 0)
    return TokenTable(enc, sigs, ts0, pos0, p0, d0, den0, size)


def vocabulary(enc: NoteEncoding) -> list[str]:
    """Every token's name, by id: the full, fixed vocabulary of the encoding."""
    t = token_table(enc)
    names = ["SEP", "BAR"]
    names += [f"TS:{n}/{d}" for n, d in t.time_signatures]
    names += [f"POS:{k}" for k in range(enc.max_bar)]
    names += [f"P:{p}" for p in range(enc.pitch_low, enc.pitch_high + 1)]
    names += [f"D:{d}" for d in enc.durations]
    if enc.controls:
        names += [f"DEN:{k}" for k in range(N_DENSITY)]
        names += [f"CH:{chord_name(i)}" for i in range(N_CHORDS)]
        names += [f"TEX:{n}" for n in range(1, TEXTURES + 1)]
    assert len(names) == t.size
    return names


@dataclass(frozen=True)
class NoteVocabulary:
    """The token table in the shape ``train.export`` expects of a vocabulary (``len``, ``to_dict``)."""

    encoding: NoteEncoding

    def __len__(self) -> int:
        return token_table(self.encoding).size

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "tokens": vocabulary(self.encoding)}


# -- folding onto the table ------------------------------------------------------------------


def fold_pitch(pitch: int, enc: NoteEncoding) -> int:
    """Octaves up or down into ``pitch_low..pitch_high``."""
    while pitch < enc.pitch_low:
        pitch += 12
    while pitch > enc.pitch_high:
        pitch -= 12
    return pitch


def nearest_duration(steps: int, enc: NoteEncoding) -> int:
    """Index of the listed duration nearest to ``steps`` (in ratio; the shorter on a tie)."""
    durs = np.asarray(enc.durations, dtype=np.float64)
    return int(np.argmin(np.abs(np.log(durs) - np.log(max(1, steps)))))


def fold_time_signature(ts: tuple[int, int], enc: NoteEncoding) -> tuple[int, int]:
    """A time signature of the table: the same one, an equal-length one, or half its bar."""
    table = token_table(enc).time_signatures
    n, d = max(1, int(ts[0])), max(1, int(ts[1]))
    while d > TS_DENOMINATORS[-1]:  # 5/32 → a 16th-based bar of about the same length
        n, d = max(1, (n + 1) // 2), d // 2
    for _ in range(64):
        if (n, d) in table:
            return n, d
        if n % 2 == 0 and d > 1 and (n // 2, d // 2) in table:
            n, d = n // 2, d // 2  # the same bar length with smaller numbers (12/16 → 6/8)
        elif n % 2 == 0:
            n //= 2  # half the bar (4/2 → 2/2, 6/2 → 3/2)
        elif d < TS_DENOMINATORS[-1]:
            d *= 2  # half the bar (3/1 → 3/2, 9/4 → 9/8)
        else:
            n = (n + 1) // 2
    return 4, 4


def partial_bar(steps: int, ts: tuple[int, int], enc: NoteEncoding) -> tuple[int, int]:
    """A time signature of the table ``steps`` long (``ts`` itself if there is none)."""
    table = token_table(enc)
    for d in (ts[1], 4, 8, 16, 2, 1):
        for n, dd in table.time_signatures:
            if dd == d and table.bar_steps((n, dd)) == steps:
                return n, dd
    return ts
