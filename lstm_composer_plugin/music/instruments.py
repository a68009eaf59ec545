"""General MIDI instruments: ``--instrument NAME|PROGRAM`` → the program number written into the MIDI.

The user gives a General MIDI name ("violin", "acoustic grand piano"), a short name ("piano",
"fiddle", "organ"), or the GM program number as the standard lists it, 1-128 (violin is 41; the
byte in the file, and what mido reads, is one less: 40). The audio render plays the MIDI through
a General MIDI SoundFont, so the WAV sounds with the same instrument.
"""

from __future__ import annotations

import difflib
import re

# General MIDI Level 1, programs 1-128 in order (the list index is the byte value).
GM_PROGRAMS = (
    "acoustic grand piano", "bright acoustic piano", "electric grand piano", "honky-tonk piano",
    "electric piano 1", "electric piano 2", "harpsichord", "clavinet",
    "celesta", "glockenspiel", "music box", "vibraphone", "marimba", "xylophone", "tubular bells", "dulcimer",
    "drawbar organ", "percussive organ", "rock organ", "church organ", "reed organ", "accordion", "harmonica",
    "tango accordion",
    "acoustic guitar (nylon)", "acoustic guitar (steel)", "electric guitar (jazz)", "electric guitar (clean)",
    "electric guitar (muted)", "overdriven guitar", "distortion guitar", "guitar harmonics",
    "acoustic bass", "electric bass (finger)", "electric bass (pick)", "fretless bass", "slap bass 1",
    "slap bass 2", "synth bass 1", "synth bass 2",
    "violin", "viola", "cello", "contrabass", "tremolo strings", "pizzicato strings", "orchestral harp", "timpani",
    "string ensemble 1", "string ensemble 2", "synth strings 1", "synth strings 2", "choir aahs", "voice oohs",
    "synth voice", "orchestra hit",
    "trumpet", "trombone", "tuba", "muted trumpet", "french horn", "brass section", "synth brass 1",
    "synth brass 2",
    "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn", "bassoon", "clarinet",
    "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle", "ocarina",
    "lead 1 (square)", "lead 2 (sawtooth)", "lead 3 (calliope)", "lead 4 (chiff)", "lead 5 (charang)",
    "lead 6 (voice)", "lead 7 (fifths)", "lead 8 (bass + lead)",
    "pad 1 (new age)", "pad 2 (warm)", "pad 3 (polysynth)", "pad 4 (choir)", "pad 5 (bowed)", "pad 6 (metallic)",
    "pad 7 (halo)", "pad 8 (sweep)",
    "fx 1 (rain)", "fx 2 (soundtrack)", "fx 3 (crystal)", "fx 4 (atmosphere)", "fx 5 (brightness)",
    "fx 6 (goblins)", "fx 7 (echoes)", "fx 8 (sci-fi)",
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom", "synth drum",
    "reverse cymbal",
    "guitar fret noise", "breath noise", "seashore", "bird tweet", "telephone ring", "helicopter", "applause",
    "gunshot",
)
assert len(GM_PROGRAMS) == 128

# Short names people use; GM's own "fiddle" (111) is an Indian-style patch, so a fiddle is a violin here.
ALIASES = {
    "piano": 0, "grand piano": 0, "organ": 19, "guitar": 24, "bass": 32, "strings": 48, "string ensemble": 48,
    "choir": 52, "voice": 52, "fiddle": 40, "harp": 46, "sax": 65, "saxophone": 65, "horn": 60,
    "tin whistle": 78, "penny whistle": 78, "bagpipes": 109, "pipes": 109,
}

#: The instrument a style's compositions are written for unless the user chooses (else piano).
STYLE_INSTRUMENTS = {"fiddle": "violin", "irish": "violin", "scottish": "violin"}

DEFAULT_PROGRAM = 0  # acoustic grand piano


def _key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


_BY_NAME = {_key(n): i for i, n in enumerate(GM_PROGRAMS)} | {_key(n): i for n, i in ALIASES.items()}


def parse_instrument(value: str | int) -> int:
    """The MIDI program byte (0-127) of a General MIDI name or a GM program number 1-128.

    Raises ``ValueError`` with a one-line reason naming the closest names.
    """
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        number = int(text)
        if not 1 <= number <= 128:
            raise ValueError(f"a General MIDI program is 1 to 128 (violin is 41), not {number}")
        return number - 1
    key = _key(text)
    if key in _BY_NAME:
        return _BY_NAME[key]
    near = difflib.get_close_matches(key, _BY_NAME, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else " (e.g. piano, violin, flute, organ, or 1-128)"
    raise ValueError(f"no General MIDI instrument {text!r}{hint}")


def program_name(program: int) -> str:
    """The General MIDI name of a program byte (0-127)."""
    return GM_PROGRAMS[program]


def style_program(style: str) -> int:
    """The program a style is written for when the user does not choose (piano unless the style names one)."""
    name = STYLE_INSTRUMENTS.get(style)
    return _BY_NAME[_key(name)] if name else DEFAULT_PROGRAM


__all__ = ["DEFAULT_PROGRAM", "GM_PROGRAMS", "STYLE_INSTRUMENTS", "parse_instrument", "program_name",
           "style_program"]
