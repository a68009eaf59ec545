"""MIDI reading: every kind of file a user may drop in the folder, good or hostile."""

from __future__ import annotations

import random
import struct

import mido
import pytest

from lstm_composer_plugin.errors import MidiReadError
from lstm_composer_plugin.music.midi import Note, read_midi, write_midi
from tests.midi_bytes import key_signature, off, on, pedal, scale, smf, tempo, track


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def pitches(piece) -> list[int]:
    return [n.pitch for n in piece.notes]


# -- the three formats ---------------------------------------------------------


def test_type0(tmp_path):
    piece = read_midi(write(tmp_path, "t0.mid", smf([track(scale(4))], fmt=0)))
    assert pitches(piece) == [60, 61, 62, 63]
    assert [n.start for n in piece.notes] == [0, 1, 2, 3]
    assert all(n.duration == 1 for n in piece.notes)


def test_type1_merges_tracks_and_channels(tmp_path):
    melody = track([(0, on(72, ch=0)), (960, off(72, ch=0))])
    bass = track([(0, on(48, ch=3)), (480, off(48, ch=3))])
    piece = read_midi(write(tmp_path, "t1.mid", smf([track([(0, tempo(120))]), melody, bass])))
    assert pitches(piece) == [48, 72]
    assert [n.duration for n in piece.notes] == [1, 2]


def test_type2_tracks_play_one_after_another(tmp_path):
    a = track([(0, on(60)), (480, off(60))])
    b = track([(0, on(64)), (480, off(64))])
    piece = read_midi(write(tmp_path, "t2.mid", smf([a, b], fmt=2)))
    assert [(n.pitch, n.start) for n in piece.notes] == [(60, 0), (64, 1)]


# -- what a note is ---------------------------------------------------------------


def test_drums_are_left_out(tmp_path):
    events = [(0, on(36, ch=9)), (0, on(60)), (480, off(36, ch=9)), (0, off(60))]
    assert pitches(read_midi(write(tmp_path, "d.mid", smf([track(events)], fmt=0)))) == [60]


def test_running_status_and_velocity_zero_note_off(tmp_path):
    # 0x90 once, then data bytes only; velocity 0 ends a note.
    events = [(0, bytes([0x90, 60, 90])), (480, bytes([60, 0])), (0, bytes([62, 90])), (480, bytes([62, 0]))]
    piece = read_midi(write(tmp_path, "rs.mid", smf([track(events)], fmt=0)))
    assert [(n.pitch, n.start, n.duration, n.velocity) for n in piece.notes] == [(60, 0, 1, 90), (62, 1, 1, 90)]


def test_restrike_and_orphan_note_off(tmp_path):
    events = [(0, on(60)), (240, on(60)), (240, off(60)), (0, off(60)), (0, off(70))]
    piece = read_midi(write(tmp_path, "o.mid", smf([track(events)], fmt=0)))
    assert [(n.start, n.duration) for n in piece.notes] == [(0, 0.5), (0.5, 0.5)]


def test_sustain_pedal_extends_notes(tmp_path):
    events = [(0, pedal(True)), (0, on(60)), (240, off(60)), (0, on(64)), (240, off(64)), (480, pedal(False))]
    piece = read_midi(write(tmp_path, "p.mid", smf([track(events)], fmt=0)))
    assert [(n.pitch, n.start, n.duration) for n in piece.notes] == [(60, 0, 2), (64, 0.5, 1.5)]


def test_tempo_changes_give_seconds(tmp_path):
    events = [(0, tempo(120)), *scale(2), (0, tempo(60)), *scale(2, start=70)]
    piece = read_midi(write(tmp_path, "tempo.mid", smf([track(events)], fmt=0)))
    assert [round(n.start_s, 6) for n in piece.notes] == [0.0, 0.5, 1.0, 2.0]
    assert [round(n.duration_s, 6) for n in piece.notes] == [0.5, 0.5, 1.0, 1.0]
    assert [bpm for _, bpm in piece.tempos] == [120, 60]


def test_smpte_division(tmp_path):
    # 25 fps x 40 ticks per frame = 1000 ticks per second.
    division = ((256 - 25) << 8) | 40
    events = [(0, on(60)), (500, off(60)), (0, on(62)), (1000, off(62))]
    piece = read_midi(write(tmp_path, "smpte.mid", smf([track(events)], fmt=0, division=division)))
    assert [(round(n.start_s, 6), round(n.duration_s, 6)) for n in piece.notes] == [(0, 0.5), (0.5, 1.0)]


def test_absurd_delta_is_capped(tmp_path):
    events = [*scale(1), (0x0FFFFFFF, on(62)), (480, off(62))]
    piece = read_midi(write(tmp_path, "far.mid", smf([track(events)], fmt=0)))
    assert pitches(piece) == [60, 62]
    assert piece.notes[1].start <= 65
    assert any("capped" in w for w in piece.warnings)


# -- leniency: the notes that are there are read ---------------------------------------


def test_missing_end_of_track(tmp_path):
    assert pitches(read_midi(write(tmp_path, "eot.mid", smf([track(scale(3), end=False)], fmt=0)))) == [60, 61, 62]


def test_unknown_chunk_and_trailing_garbage(tmp_path):
    data = smf([track(scale(3))], fmt=0)
    data = data[:14] + b"XFIH" + struct.pack(">I", 4) + b"abcd" + data[14:] + b"\x00\x13garbage\xff\xfe"
    assert pitches(read_midi(write(tmp_path, "junk.mid", data))) == [60, 61, 62]


def test_rmid_wrapper(tmp_path):
    inner = smf([track(scale(3))], fmt=0)
    data_chunk = b"data" + struct.pack("<I", len(inner)) + inner
    data = b"RIFF" + struct.pack("<I", 4 + len(data_chunk)) + b"RMID" + data_chunk
    assert pitches(read_midi(write(tmp_path, "song.rmi", data))) == [60, 61, 62]


def test_out_of_range_key_signature(tmp_path):
    events = [(0, key_signature(9)), *scale(3)]  # 9 sharps does not exist
    assert pitches(read_midi(write(tmp_path, "key.mid", smf([track(events)], fmt=0)))) == [60, 61, 62]


def test_truncated_track_keeps_what_is_there(tmp_path):
    data = smf([track(scale(8))], fmt=0)
    piece = read_midi(write(tmp_path, "cut.mid", data[: len(data) // 2]))
    assert 1 <= len(piece.notes) < 8
    assert piece.warnings


# -- errors: one exception type naming the file ------------------------------------


@pytest.mark.parametrize(
    "name, data, problem",
    [
        ("empty.mid", b"", "empty file"),
        ("text.mid", b"this is not a MIDI file at all", "not a MIDI file"),
        ("short.mid", b"MThd\x00\x00", "truncated header"),
        ("hlen.mid", b"MThd" + struct.pack(">IHHH", 2, 0, 1, 480), "bad header length"),
        ("div0.mid", smf([track(scale(2))], division=0), "division is 0"),
        ("fmt.mid", smf([track(scale(2))], fmt=7), "unknown MIDI format"),
        ("notrack.mid", smf([], ntracks=1), "no tracks"),
        ("riff.mid", b"RIFF\x04\x00\x00\x00WAVE", "not RMID"),
    ],
)
def test_malformed_files_raise_one_error_naming_the_file(tmp_path, name, data, problem):
    path = write(tmp_path, name, data)
    with pytest.raises(MidiReadError) as info:
        read_midi(path)
    message = str(info.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(MidiReadError, match="cannot read"):
        read_midi(tmp_path / "nope.mid")


def test_fuzzed_files_give_notes_or_the_project_error(tmp_path, corpus_dir):
    """Random damage to real files: never any exception but MidiReadError."""
    sources = sorted((corpus_dir / "bach").glob("*.mid"))[:5]
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for i in range(300):
        data = bytearray(rng.choice(sources).read_bytes())
        kind = i % 3
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # cut
            data = data[: rng.randrange(len(data))]
        else:  # splice garbage in
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randint(1, 50))
        path = write(tmp_path, f"fuzz{i}.mid", bytes(data))
        try:
            read_midi(path)
            outcomes["ok"] += 1
        except MidiReadError as exc:
            assert str(path) in str(exc)
            outcomes["error"] += 1
    # The damage must reach both paths: files still read (leniently) and files refused with
    # the project's error, whose message is checked above; otherwise the test proves nothing.
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


# -- writing --------------------------------------------------------------------------


def test_write_then_read(tmp_path):
    notes = [
        Note(60, 0, 1, 90),
        Note(64, 0, 2, 90),
        Note(60, 1, 0.5, 70),  # re-strike while the chord's other note sounds
        Note(67, 1.5, 1.5, 80),
    ]
    path = write_midi(tmp_path / "w.mid", notes, bpm=90, time_signature=(3, 4), texts=["style: test"], title="T")
    mid = mido.MidiFile(path)
    assert mid.type == 0 and len(mid.tracks) == 1
    metas = {m.type: m for m in mid.tracks[0] if m.is_meta}
    assert metas["text"].text == "style: test"
    assert round(mido.tempo2bpm(metas["set_tempo"].tempo)) == 90
    assert (metas["time_signature"].numerator, metas["time_signature"].denominator) == (3, 4)
    assert all(m.channel == 0 for m in mid.tracks[0] if not m.is_meta)
    back = read_midi(path)
    assert [(n.pitch, n.start, n.duration, n.velocity) for n in back.notes] == [
        (n.pitch, n.start, n.duration, n.velocity) for n in notes
    ]
    assert back.title == "T"


def test_written_bytes_are_what_mido_would_save(tmp_path, corpus_dir):
    """write_midi encodes the notes itself (running status, one end of track); mido, loading the file and
    saving it again with its own encoder, must write the same bytes: real pieces, a re-strike over a
    sounding note, long gaps (multi-byte delta times), a title, texts, a key signature, another program."""
    pieces = [read_midi(f) for f in sorted((corpus_dir / "joplin").glob("*.mid"))[:3]]
    pieces.append(read_midi(write_midi(tmp_path / "gaps.mid", [Note(60, 0, 1, 90), Note(60, 0.5, 1, 80),
                                                              Note(72, 40000, 0.25, 127)])))
    for i, piece in enumerate(pieces):
        path = write_midi(tmp_path / f"{i}.mid", piece.notes, bpm=piece.bpm, time_signature=(6, 8),
                          texts=["seed 1", "modèle"], title="Titre é", program=41, key_signature=(-3, True),
                          ticks_per_beat=(480, 96)[i % 2])
        mido.MidiFile(path).save(tmp_path / "again.mid")
        assert path.read_bytes() == (tmp_path / "again.mid").read_bytes(), piece.path
        assert len(read_midi(path).notes) == len(piece.notes)
    with pytest.raises(ValueError, match="pitch 128 is outside 0-127"):
        write_midi(tmp_path / "bad.mid", [Note(128, 0, 1, 90)])
