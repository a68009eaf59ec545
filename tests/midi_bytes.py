"""Build Standard MIDI Files byte by byte, so tests can make exactly the oddities they need."""

from __future__ import annotations

import struct


def varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events: list[tuple[int, bytes]], end: bool = True) -> bytes:
    """events: (delta ticks, raw message bytes, status included or omitted for running status)."""
    body = b"".join(varlen(d) + msg for d, msg in events)
    if end:
        body += varlen(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(tracks: list[bytes], fmt: int = 1, division: int = 480, ntracks: int | None = None) -> bytes:
    n = len(tracks) if ntracks is None else ntracks
    return b"MThd" + struct.pack(">IHHH", 6, fmt, n, division) + b"".join(tracks)


def on(pitch: int, vel: int = 80, ch: int = 0) -> bytes:
    return bytes([0x90 | ch, pitch, vel])


def off(pitch: int, ch: int = 0) -> bytes:
    return bytes([0x80 | ch, pitch, 0])


def tempo(bpm: float) -> bytes:
    return b"\xff\x51\x03" + int(60e6 / bpm).to_bytes(3, "big")


def pedal(down: bool, ch: int = 0) -> bytes:
    return bytes([0xB0 | ch, 64, 127 if down else 0])


def key_signature(sharps: int, minor: int = 0) -> bytes:
    return b"\xff\x59\x02" + bytes([sharps & 0xFF, minor])


def scale(n: int = 8, start: int = 60, ticks: int = 480) -> list[tuple[int, bytes]]:
    """n quarter notes going up: the plain good content most tests start from."""
    events: list[tuple[int, bytes]] = []
    for i in range(n):
        events.append((0, on(start + i)))
        events.append((ticks, off(start + i)))
    return events
