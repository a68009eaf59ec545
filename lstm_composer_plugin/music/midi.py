"""MIDI files ⇄ notes.

Reading is a small, lenient Standard MIDI File decoder of our own rather than
``mido.MidiFile``: real-world files are truncated, carry trailing garbage, RIFF
wrappers or out-of-range key signatures, and a reader that raises on the first
oddity loses every note that *was* there. Whatever happens, only ``MidiReadError``
(naming the file) leaves this module. Writing uses mido, which is exact and simple.

All tracks and channels are merged into one stream (the single-channel models),
drums (channel 10) are left out, note-on with velocity 0 is a note-off, a note
struck again while sounding ends the earlier one, orphan note-offs are ignored,
and the sustain pedal (CC64) extends sounding lengths until it is released.

The module is a little over 400 lines on purpose: the byte-level decoder (chunks,
running status, meta events, the tempo map) and its error handling read best in one
place, and the writer is its mirror image.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from lstm_composer_plugin.errors import MidiReadError

DRUM_CHANNEL = 9
MAX_DELTA_BEATS = 64  # a longer silence is a damaged file, not music: cap it
DEFAULT_TEMPO = 500_000  # µs per beat (120 bpm)


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float  # beats
    duration: float  # beats
    velocity: int = 80
    start_s: float = 0.0
    duration_s: float = 0.0


@dataclass
class Piece:
    """The notes of one file, sorted by onset then pitch, with its tempo map."""

    path: str
    notes: list[Note]
    tempos: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 120.0)])  # (beat, bpm)
    time_signature: tuple[int, int] = (4, 4)
    title: str = ""
    warnings: list[str] = field(default_factory=list)
    # Every change, in order: (beat, numerator, denominator) and (beat, sharps (-7..7), minor).
    time_signatures: list[tuple[float, int, int]] = field(default_factory=list)
    key_signatures: list[tuple[float, int, bool]] = field(default_factory=list)

    @property
    def bpm(self) -> float:
        return self.tempos[0][1] if self.tempos else 120.0

    @property
    def seconds(self) -> float:
        return max((n.start_s + n.duration_s for n in self.notes), default=0.0)


# ---------------------------------------------------------------------------
# Reading


def read_midi(path: str | os.PathLike[str]) -> Piece:
    """Read any Standard MIDI File (type 0, 1 or 2) into a :class:`Piece`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MidiReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        return _decode(str(path), data)
    except MidiReadError:
        raise
    except Exception as exc:  # a decoder bug must not become a traceback for the user
        raise MidiReadError(f"{path}: unreadable MIDI data ({type(exc).__name__}: {exc})") from None


def _fail(path: str, problem: str) -> MidiReadError:
    return MidiReadError(f"{path}: {problem}")


def _unwrap_riff(path: str, data: bytes) -> bytes:
    # RMID: a RIFF container whose 'data' chunk is the SMF.
    if data[:4] != b"RIFF":
        return data
    if data[8:12] != b"RMID":
        raise _fail(path, "RIFF file that is not RMID")
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise _fail(path, "RMID file without a data chunk")


def _decode(path: str, data: bytes) -> Piece:
    """A Standard MIDI File's bytes as a piece: header, track chunks, one merged event list, the tempo
    map, then the notes (sustain pedal, re-strikes and unended notes handled); problems become warnings."""
    warnings: list[str] = []
    if not data:
        raise _fail(path, "empty file")
    data = _unwrap_riff(path, data)
    fmt, ntracks, ticks_per_beat, smpte, body_at = _read_header(path, data)
    chunks = _track_chunks(path, data, body_at, ntracks, warnings)
    max_delta = int(MAX_DELTA_BEATS * ticks_per_beat)
    tracks = []
    for i, body in enumerate(chunks):
        events, end, problem = _decode_track(body, max_delta)
        if problem:
            warnings.append(f"track {i + 1}: {problem}")
        tracks.append((events, end))
    merged, title = _merge_tracks(tracks, fmt)
    tempo = _TempoMap.of(merged, ticks_per_beat, smpte)
    raw = _note_spans(merged, ticks_per_beat, warnings)
    notes = []
    for start, end, pitch, vel in raw:
        s0, s1 = tempo.seconds(start), tempo.seconds(end)
        notes.append(Note(pitch=pitch, start=start / ticks_per_beat, duration=(end - start) / ticks_per_beat,
                          velocity=vel, start_s=s0, duration_s=s1 - s0))
    return Piece(
        path=path,
        notes=notes,
        tempos=[(t / ticks_per_beat, 60e6 / v) for t, v in zip(tempo.ticks, tempo.values, strict=True)],
        time_signature=tempo.time_signature,
        title=title,
        warnings=warnings,
        time_signatures=tempo.time_signatures,
        key_signatures=tempo.key_signatures,
    )


def _read_header(path: str, data: bytes) -> tuple[int, int, float, bool, int]:
    """(format, tracks announced, ticks per beat, SMPTE timing, where the chunks start) from MThd."""
    if data[:4] != b"MThd":
        raise _fail(path, "not a MIDI file (no MThd header)")
    if len(data) < 14:
        raise _fail(path, "truncated header")
    hlen = struct.unpack(">I", data[4:8])[0]
    if hlen < 6:
        raise _fail(path, f"bad header length {hlen}")
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    if fmt > 2:
        raise _fail(path, f"unknown MIDI format {fmt}")
    if division == 0:
        raise _fail(path, "bad header: division is 0")
    smpte = bool(division & 0x8000)
    if smpte:
        fps = 256 - (division >> 8)
        fps = 29.97 if fps == 29 else fps
        tpf = division & 0xFF
        if fps <= 0 or tpf == 0:
            raise _fail(path, f"bad SMPTE division {division:#06x}")
        # Time codes carry no beats: read them as seconds at a nominal 120 bpm.
        ticks_per_beat = fps * tpf / 2.0
    else:
        ticks_per_beat = float(division)
    return fmt, ntracks, ticks_per_beat, smpte, 8 + hlen


def _track_chunks(path: str, data: bytes, pos: int, ntracks: int, warnings: list[str]) -> list[bytes]:
    """The MTrk chunks' bodies; unknown chunks are skipped, trailing garbage ignored (with a warning)."""
    chunks = []
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if cid == b"MTrk":
            body = data[pos + 8 : pos + 8 + size]
            if len(body) < size:
                warnings.append(f"track {len(chunks) + 1} truncated")
            chunks.append(body)
        elif not all(32 <= b < 127 for b in cid):
            if chunks:
                warnings.append("trailing garbage ignored")
                break
            raise _fail(path, "no MTrk chunk after the header")
        pos += 8 + size
    if not chunks:
        raise _fail(path, "no tracks")
    if len(chunks) < ntracks:
        warnings.append(f"header announces {ntracks} tracks, file has {len(chunks)}")
    return chunks


def _merge_tracks(tracks: list[tuple[list, int]], fmt: int) -> tuple[list[tuple[int, int, int, tuple]], str]:
    """Every track's events in one time order (offs before ons within a tick), and the first track name."""
    merged: list[tuple[int, int, int, tuple]] = []
    offset = 0
    title = ""
    for i, (events, end) in enumerate(tracks):
        for tick, order, kind, payload in events:
            if kind == "name" and not title:
                title = payload
                continue
            merged.append((tick + offset, _ORDER[kind], i * 1_000_000 + order, (kind, payload)))
        if fmt == 2:  # type 2 tracks are independent patterns played one after another
            offset += end
    merged.sort(key=lambda e: (e[0], e[1], e[2]))
    return merged, title


class _TempoMap:
    """Tempo changes (ticks, microseconds per beat) for a tick → seconds map, and the metre and key events."""

    def __init__(self, ticks_per_beat: float, smpte: bool):
        self.ticks_per_beat, self.smpte = ticks_per_beat, smpte
        self.ticks: list[int] = [0]
        self.values: list[int] = [DEFAULT_TEMPO]
        self.time_signature = (4, 4)
        self.time_signatures: list[tuple[float, int, int]] = []
        self.key_signatures: list[tuple[float, int, bool]] = []
        self._seconds_at = [0.0]

    @classmethod
    def of(cls, merged: list[tuple[int, int, int, tuple]], ticks_per_beat: float, smpte: bool) -> _TempoMap:
        m = cls(ticks_per_beat, smpte)
        seen_sig = False
        for tick, _o, _s, (kind, payload) in merged:
            if kind == "timesig":
                m.time_signatures.append((tick / ticks_per_beat, *payload))
            elif kind == "keysig":
                m.key_signatures.append((tick / ticks_per_beat, *payload))
            if kind == "tempo" and not smpte and payload > 0:
                if tick == m.ticks[-1]:
                    m.values[-1] = payload
                else:
                    m.ticks.append(tick)
                    m.values.append(payload)
            elif kind == "timesig" and not seen_sig:
                m.time_signature, seen_sig = payload, True
        for j in range(1, len(m.ticks)):  # seconds at each tempo change
            dt = m.ticks[j] - m.ticks[j - 1]
            m._seconds_at.append(m._seconds_at[-1] + dt * m.values[j - 1] / 1e6 / ticks_per_beat)
        return m

    def seconds(self, tick: int) -> float:
        if self.smpte:
            return tick / (2.0 * self.ticks_per_beat)
        j = bisect.bisect_right(self.ticks, tick) - 1
        return self._seconds_at[j] + (tick - self.ticks[j]) * self.values[j] / 1e6 / self.ticks_per_beat


def _note_spans(merged: list[tuple[int, int, int, tuple]], ticks_per_beat: float,
                warnings: list[str]) -> list[tuple[int, int, int, int]]:
    """(start, end, pitch, velocity) of every note in ticks: a re-strike ends the earlier note, the
    sustain pedal holds released notes, drums are left out, unended notes close at the end."""
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start, velocity)
    sustained: dict[int, set[int]] = {}  # channel -> pitches released under the pedal
    pedal: dict[int, bool] = {}
    raw: list[tuple[int, int, int, int]] = []
    last_tick = merged[-1][0] if merged else 0

    def close(ch: int, pitch: int, tick: int) -> None:
        start, vel = sounding.pop((ch, pitch))
        sustained.get(ch, set()).discard(pitch)
        if tick > start:
            raw.append((start, tick, pitch, vel))

    for tick, _o, _s, (kind, payload) in merged:
        if kind == "on":
            ch, pitch, vel = payload
            if ch == DRUM_CHANNEL:
                continue
            if (ch, pitch) in sounding:  # re-strike ends the earlier note
                close(ch, pitch, tick)
            sounding[(ch, pitch)] = (tick, vel)
        elif kind == "off":
            ch, pitch = payload
            if (ch, pitch) not in sounding:
                continue  # orphan note-off
            if pedal.get(ch):
                sustained.setdefault(ch, set()).add(pitch)
            else:
                close(ch, pitch, tick)
        elif kind == "pedal":
            ch, down = payload
            if pedal.get(ch) and not down:
                for pitch in sorted(sustained.get(ch, ())):
                    if (ch, pitch) in sounding:
                        close(ch, pitch, tick)
                sustained[ch] = set()
            pedal[ch] = down
    if sounding:
        warnings.append(f"{len(sounding)} notes never ended; closed at the end")
        for ch, pitch in sorted(sounding):
            start = sounding[(ch, pitch)][0]
            close(ch, pitch, max(last_tick, start + int(ticks_per_beat)))
    raw.sort(key=lambda r: (r[0], r[2], r[1]))
    return raw


# Within one tick: note-offs first (so a re-strike is not cut at once), then
# controllers and meta, then note-ons.
_ORDER = {"off": 0, "pedal": 1, "tempo": 1, "timesig": 1, "keysig": 1, "name": 1, "on": 2}
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def _decode_track(body: bytes, max_delta: int) -> tuple[list[tuple[int, int, str, object]], int, str]:
    """Decode one MTrk body; returns (events, end tick, problem or "")."""
    events: list[tuple[int, int, str, object]] = []
    pos, tick, status, n = 0, 0, 0, len(body)
    problem = ""
    while pos < n:
        delta = 0
        for _ in range(4):
            if pos >= n:
                return events, tick, "truncated in a delta time"
            b = body[pos]
            pos += 1
            delta = (delta << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if delta > max_delta:
            delta = max_delta
            problem = problem or "absurd delta time capped"
        tick += delta
        if pos >= n:
            return events, tick, "truncated after a delta time"
        b = body[pos]
        if b >= 0x80:
            pos += 1
            if b < 0xF0:
                status = b
        elif status:
            b = status  # running status
        else:
            return events, tick, "data byte without a status"
        if b == 0xFF:
            if pos >= n:
                return events, tick, "truncated meta event"
            mtype = body[pos]
            pos += 1
            length, pos = _varlen(body, pos)
            payload = body[pos : pos + length]
            pos += length
            if len(payload) < length:
                return events, tick, "truncated meta event"
            if mtype == 0x2F:
                return events, tick, problem
            if mtype == 0x51 and length == 3:
                events.append((tick, len(events), "tempo", int.from_bytes(payload, "big")))
            elif mtype == 0x58 and length >= 2:
                den = 2 ** min(payload[1], 6)
                events.append((tick, len(events), "timesig", (max(1, payload[0]), den)))
            elif mtype == 0x59 and length >= 2:
                sharps = int.from_bytes(payload[:1], "big", signed=True)
                if -7 <= sharps <= 7:  # out-of-range signatures are ignored, as before
                    events.append((tick, len(events), "keysig", (sharps, bool(payload[1]))))
            elif mtype == 0x03:
                events.append((tick, len(events), "name", payload.decode("latin-1").strip()))
            continue
        if b in (0xF0, 0xF7):
            length, pos = _varlen(body, pos)
            pos += length
            status = 0
            continue
        if b >= 0xF0:
            return events, tick, f"invalid status byte {b:#04x}"
        kind = b & 0xF0
        need = _DATA_LEN[kind]
        if pos + need > n:
            return events, tick, "truncated channel message"
        d1 = body[pos] & 0x7F
        d2 = body[pos + 1] & 0x7F if need == 2 else 0
        pos += need
        ch = b & 0x0F
        if kind == 0x90 and d2 > 0:
            events.append((tick, len(events), "on", (ch, d1, d2)))
        elif kind == 0x80 or kind == 0x90:
            events.append((tick, len(events), "off", (ch, d1)))
        elif kind == 0xB0 and d1 == 64:
            events.append((tick, len(events), "pedal", (ch, d2 >= 64)))
    return events, tick, problem or "no end-of-track"


def _varlen(body: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= len(body):
            break
        b = body[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return value, pos


# ---------------------------------------------------------------------------
# Writing


# mido's key names by fifths, -7 (seven flats) .. 7 (seven sharps).
_MAJOR_KEYS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")
_MINOR_KEYS = ("Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m")


def write_midi(
    path: str | os.PathLike[str],
    notes: list[Note],
    bpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    texts: list[str] | None = None,
    title: str = "",
    ticks_per_beat: int = 480,
    program: int = 0,
    key_signature: tuple[int, bool] | None = None,
) -> Path:
    """One track, channel 0, with tempo, time signature, key signature (``(fifths, minor)``: sharps > 0,
    flats < 0), the General MIDI ``program`` (0 is piano) and provenance text events."""
    import mido

    path = Path(path)
    # The few messages before the notes, encoded by mido; the notes, most of the file, are encoded below
    # as mido's MidiFile.save would write them (running status, one end of track), byte for byte, at a
    # fifth of the cost of a validated mido.Message per event (bench/write_midi.py).
    head: list = []
    if title:
        head.append(mido.MetaMessage("track_name", name=title, time=0))
    for text in texts or []:
        head.append(mido.MetaMessage("text", text=text, time=0))
    head.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    num, den = time_signature
    head.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))
    if key_signature is not None:
        fifths, minor = key_signature
        head.append(mido.MetaMessage("key_signature", key=(_MINOR_KEYS if minor else _MAJOR_KEYS)[fifths + 7],
                                     time=0))
    head.append(mido.Message("program_change", channel=0, program=program, time=0))
    data = bytearray()
    for msg in head:
        data.append(0)  # each at time 0
        data.extend(msg.bytes())
    running = 0xC0  # the program change's status

    def event(delta: int, status: int, pitch: int, velocity: int) -> None:
        nonlocal running
        if not 0 <= pitch <= 127:
            raise ValueError(f"note pitch {pitch} is outside 0-127")
        data.extend(_write_varlen(delta))
        if status != running:
            data.append(status)
            running = status
        data.append(pitch)
        data.append(velocity)

    timeline: list[tuple[int, int, int, int]] = []  # tick, order (off first), pitch, velocity
    for note in notes:
        on = round(note.start * ticks_per_beat)
        off = max(on + 1, round((note.start + note.duration) * ticks_per_beat))
        timeline.append((on, 1, note.pitch, max(1, min(127, note.velocity))))
        timeline.append((off, 0, note.pitch, 0))
    timeline.sort()
    sounding: dict[int, int] = {}
    now = 0
    for tick, order, pitch, vel in timeline:
        if order == 0:
            # An off for a pitch struck again later than this note's own end is stale.
            count = sounding.get(pitch, 0)
            if count == 0:
                continue
            sounding[pitch] = count - 1
            event(tick - now, 0x80, pitch, 0)
        else:
            if sounding.get(pitch, 0):  # re-strike: end the sounding one first
                event(tick - now, 0x80, pitch, 0)
                now = tick
                sounding[pitch] -= 1
            sounding[pitch] = sounding.get(pitch, 0) + 1
            event(tick - now, 0x90, pitch, vel)
        now = tick
    data.extend(b"\x00\xff\x2f\x00")  # end of track
    header = struct.pack(">4sLhhh", b"MThd", 6, 0, 1, ticks_per_beat)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + struct.pack(">4sL", b"MTrk", len(data)) + bytes(data))
    return path


def _write_varlen(n: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits a byte, most significant first, the high bit on all but the last."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))
