"""Music in and out: MIDI files, the two token encodings, melody, keys and style statistics.

The note-level encoding (``notes``: bars, positions, pitches, durations) is what new models
learn; the event encoding (``tokens``) is kept for the models trained before it.
"""

from lstm_composer_plugin.music.grammar import Grammar, GrammarState
from lstm_composer_plugin.music.keys import Key, estimate_key, normalising_shift, piece_key
from lstm_composer_plugin.music.melody import (
    MelodyIndex,
    longest_same_pitch,
    melodic_copy_limit,
    melody_index,
    melody_of_piece,
    melody_of_tokens,
    same_pitch_limit,
)
from lstm_composer_plugin.music.midi import Note, Piece, read_midi, write_midi
from lstm_composer_plugin.music.notes import (
    NoteEncoding,
    NoteVocabulary,
    allowed_shifts,
    count_notes,
    decode_tokens,
    encode_piece,
    is_note_encoding,
    notes_per_token,
    piece_shift,
    round_trip,
    token_table,
    tokenize_note_pieces,
    transpose_tokens,
    vocabulary,
)
from lstm_composer_plugin.music.profile import NoteRecord, StyleProfile, style_profile

__all__ = [
    "Grammar",
    "GrammarState",
    "Key",
    "MelodyIndex",
    "Note",
    "NoteEncoding",
    "NoteRecord",
    "NoteVocabulary",
    "Piece",
    "StyleProfile",
    "allowed_shifts",
    "count_notes",
    "decode_tokens",
    "encode_piece",
    "estimate_key",
    "is_note_encoding",
    "longest_same_pitch",
    "melodic_copy_limit",
    "melody_index",
    "melody_of_piece",
    "melody_of_tokens",
    "normalising_shift",
    "notes_per_token",
    "piece_key",
    "piece_shift",
    "read_midi",
    "round_trip",
    "same_pitch_limit",
    "style_profile",
    "token_table",
    "tokenize_note_pieces",
    "transpose_tokens",
    "vocabulary",
    "write_midi",
]
