"""ISO BMFF (ISO/IEC 14496-12, "MP4") boxes, as far as a fragment index needs them. Pure.

Everything here reads ``bytes`` it is given and returns values or raises
``BmffError``; it never does I/O, never loops more than the bytes allow, and
never trusts a size: a box that claims more than its parent holds, less than
its own header, or a count its payload cannot hold is an error, not a crash.

What is read:

- box headers (32-bit size, ``size == 1`` with a 64-bit size, ``size == 0``:
  to the end of the enclosing space);
- ``moov``: each track's id, handler (``vide``, ``soun``...), timescale
  (``mdhd``) and default sample duration (``mvex/trex``); whether the movie is
  fragmented (it has ``mvex``);
- ``moof``: one track's decode time (``tfdt``) and duration (``trun`` sample
  durations, else ``tfhd``'s default, else ``trex``'s);
- ``sidx``: a segment index's references (size and duration of each);
- ``mfra/tfra``: the time and offset of each random-access fragment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# Containers the walk descends into, to reach the boxes above.
_MOOV_PATH = (b"trak", b"mdia", b"minf")
MAX_BOXES = 4096  # boxes in one container: more is not a recording, it is an attack
MAX_ENTRIES = 1_000_000  # entries of one table (trun samples, sidx references, tfra)


class BmffError(ValueError):
    """The bytes are not the ISO BMFF this module reads."""


@dataclass(frozen=True, slots=True)
class Box:
    """A box's place: ``type`` from ``start`` (its header) to ``end``; the payload
    starts at ``start + header``."""

    type: bytes
    start: int
    header: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def payload(self) -> int:
        return self.start + self.header


def box_header(data: bytes, offset: int, limit: int) -> Box | None:
    """The box whose header starts at ``data[offset]``, inside a space ending at ``limit``
    (for top-level boxes: the file's size, which ``data`` need not hold). None when
    ``data`` ends before the header does; ``BmffError`` when the header is impossible."""
    if limit - offset < 8:
        raise BmffError("a box header is cut off")
    if len(data) - offset < 8:
        return None
    size, kind = struct.unpack_from(">I4s", data, offset)
    header = 8
    if size == 1:
        if len(data) - offset < 16:
            return None
        if limit - offset < 16:
            raise BmffError("a 64-bit box header is cut off")
        (size,) = struct.unpack_from(">Q", data, offset + 8)
        header = 16
    elif size == 0:
        size = limit - offset
    if kind == b"uuid":
        header += 16
    if size < header:
        raise BmffError(f"box {_name(kind)} is smaller than its header")
    if offset + size > limit:
        raise BmffError(f"box {_name(kind)} runs past its container")
    return Box(kind, offset, header, offset + size)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes in ``data[start:end]``, which must hold them whole."""
    end = len(data) if end is None else end
    offset = start
    for _ in range(MAX_BOXES):
        if offset >= end:
            return
        found = box_header(data, offset, end)
        if found is None:
            raise BmffError("a box header is cut off")
        yield found
        offset = found.end
    raise BmffError(f"more than {MAX_BOXES} boxes in one container")


def child(data: bytes, parent: Box, kind: bytes) -> Box | None:
    """The first box of ``kind`` directly inside ``parent``."""
    return next((b for b in boxes(data, parent.payload, parent.end) if b.type == kind), None)


def children(data: bytes, parent: Box, kind: bytes) -> list[Box]:
    return [b for b in boxes(data, parent.payload, parent.end) if b.type == kind]


# ---- moov


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    handler: bytes  # b"vide", b"soun", ...
    timescale: int  # ticks per second (mdhd)
    default_duration: int = 0  # trex's default sample duration, 0 if none


@dataclass(frozen=True, slots=True)
class Movie:
    tracks: tuple[Track, ...]
    fragmented: bool  # it has mvex: its samples live in movie fragments

    def main_track(self) -> Track:
        """The track whose time a player follows: the first video track, else the first."""
        for track in self.tracks:
            if track.handler == b"vide":
                return track
        if not self.tracks:
            raise BmffError("the movie has no track")
        return self.tracks[0]


def parse_moov(data: bytes, moov: Box) -> Movie:
    """The tracks of a ``moov`` box that ``data`` holds whole."""
    defaults: dict[int, int] = {}
    mvex = child(data, moov, b"mvex")
    if mvex is not None:
        for trex in children(data, mvex, b"trex"):
            _full(data, trex, 20)
            track_id, _, duration = struct.unpack_from(">III", data, trex.payload + 4)
            defaults[track_id] = duration
    tracks = []
    for trak in children(data, moov, b"trak"):
        tkhd = _need(data, trak, b"tkhd")
        version = _full(data, tkhd, 24)
        track_id = _u32(data, tkhd.payload + (20 if version == 1 else 12), tkhd.end)
        mdia = _need(data, trak, b"mdia")
        mdhd = _need(data, mdia, b"mdhd")
        version = _full(data, mdhd, 24)
        timescale = _u32(data, mdhd.payload + (20 if version == 1 else 12), mdhd.end)
        if timescale == 0:
            raise BmffError("a track's timescale is 0")
        hdlr = _need(data, mdia, b"hdlr")
        _full(data, hdlr, 12)
        handler = data[hdlr.payload + 8 : hdlr.payload + 12]
        tracks.append(Track(track_id, handler, timescale, defaults.get(track_id, 0)))
    return Movie(tuple(tracks), fragmented=mvex is not None)


# ---- moof

_TFHD_BASE_OFFSET = 0x01
_TFHD_DESCRIPTION = 0x02
_TFHD_DURATION = 0x08
_TRUN_DATA_OFFSET = 0x01
_TRUN_FIRST_FLAGS = 0x04
_TRUN_DURATION = 0x100
_TRUN_SIZE = 0x200
_TRUN_FLAGS = 0x400
_TRUN_COMPOSITION = 0x800


@dataclass(frozen=True, slots=True)
class Fragment:
    """One track's part of a ``moof``: when it starts (``tfdt``; None without one) and how
    long it lasts, in the track's ticks."""

    decode_time: int | None
    duration: int


def parse_moof(data: bytes, moof: Box, track: Track) -> Fragment | None:
    """``track``'s time in a ``moof`` that ``data`` holds whole; None if it has no samples
    of that track."""
    decode_time: int | None = None
    duration = 0
    found = False
    for traf in children(data, moof, b"traf"):
        tfhd = _need(data, traf, b"tfhd")
        _full(data, tfhd, 8)
        flags = _flags(data, tfhd)
        if _u32(data, tfhd.payload + 4, tfhd.end) != track.id:
            continue
        found = True
        position = tfhd.payload + 8
        position += 8 if flags & _TFHD_BASE_OFFSET else 0
        position += 4 if flags & _TFHD_DESCRIPTION else 0
        default = track.default_duration
        if flags & _TFHD_DURATION:
            default = _u32(data, position, tfhd.end)
        tfdt = child(data, traf, b"tfdt")
        if tfdt is not None and decode_time is None:
            version = _full(data, tfdt, 8)
            if version == 1:
                decode_time = _u64(data, tfdt.payload + 4, tfdt.end)
            else:
                decode_time = _u32(data, tfdt.payload + 4, tfdt.end)
        for trun in children(data, traf, b"trun"):
            duration += _trun_duration(data, trun, default)
    return Fragment(decode_time, duration) if found else None


def _trun_duration(data: bytes, trun: Box, default: int) -> int:
    _full(data, trun, 8)
    flags = _flags(data, trun)
    count = _u32(data, trun.payload + 4, trun.end)
    position = trun.payload + 8
    position += 4 if flags & _TRUN_DATA_OFFSET else 0
    position += 4 if flags & _TRUN_FIRST_FLAGS else 0
    per_sample = 4 * sum(
        1 for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_COMPOSITION) if flags & bit
    )
    if count > MAX_ENTRIES or position + count * per_sample > trun.end:
        raise BmffError("a trun holds more samples than its size")
    if not flags & _TRUN_DURATION:
        return count * default
    fmt = ">" + "I" * (per_sample // 4)
    return sum(struct.unpack_from(fmt, data, position + i * per_sample)[0] for i in range(count))


# ---- sidx and mfra


@dataclass(frozen=True, slots=True)
class SegmentIndex:
    """A ``sidx``: media segments as (size, duration in ``timescale`` ticks), the first
    starting ``first_offset`` bytes after the ``sidx`` box ends."""

    track_id: int
    timescale: int
    first_offset: int
    references: tuple[tuple[int, int], ...]


def parse_sidx(data: bytes, sidx: Box) -> SegmentIndex:
    """A ``sidx`` that ``data`` holds whole; ``BmffError`` if it points at other ``sidx``
    boxes (a hierarchy this reader does not follow)."""
    version = _full(data, sidx, 20)
    track_id, timescale = struct.unpack_from(">II", data, sidx.payload + 4)
    position = sidx.payload + 12
    if version == 0:
        first_offset = _u32(data, position + 4, sidx.end)
        position += 8
    else:
        first_offset = _u64(data, position + 8, sidx.end)
        position += 16
    # 16 reserved bits, then the 16-bit reference count.
    (count,) = struct.unpack_from(">H", data, _within(position, 4, sidx.end) + 2)
    position += 4
    if position + 12 * count > sidx.end:
        raise BmffError("a sidx holds more references than its size")
    if timescale == 0:
        raise BmffError("a sidx's timescale is 0")
    references = []
    for i in range(count):
        word, duration, _ = struct.unpack_from(">III", data, position + 12 * i)
        if word >> 31:
            raise BmffError("a sidx that references other sidx boxes")
        references.append((word & 0x7FFFFFFF, duration))
    return SegmentIndex(track_id, timescale, first_offset, tuple(references))


def parse_tfra(
    data: bytes, tfra: Box, limit: int = MAX_ENTRIES
) -> tuple[int, list[tuple[int, int]]]:
    """A ``tfra``'s track id and its entries as (time, moof offset), in file order; more than
    ``limit`` entries is an error (before any is read)."""
    version = _full(data, tfra, 16)
    track_id, sizes, count = struct.unpack_from(">III", data, tfra.payload + 4)
    width = 16 if version == 1 else 8
    # traf, trun and sample numbers: 1-4 bytes each, as the low 6 bits say.
    entry = width + ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
    position = tfra.payload + 16
    if count > limit:
        raise BmffError(f"a tfra of more than {limit} entries")
    if position + count * entry > tfra.end:
        raise BmffError("a tfra holds more entries than its size")
    fmt = ">QQ" if version == 1 else ">II"
    entries = [struct.unpack_from(fmt, data, position + i * entry) for i in range(count)]
    return track_id, [(int(t), int(o)) for t, o in entries]


def mfra_size(tail: bytes) -> int | None:
    """The size of the ``mfra`` box that a file's last 16 bytes (an ``mfro``) announce."""
    if len(tail) != 16:
        return None
    size, kind, _, announced = struct.unpack(">I4sII", tail)
    if size != 16 or kind != b"mfro" or announced < 16 + 8:
        return None
    return int(announced)


# ---- helpers


def _need(data: bytes, parent: Box, kind: bytes) -> Box:
    found = child(data, parent, kind)
    if found is None:
        raise BmffError(f"{_name(parent.type)} has no {_name(kind)}")
    return found


def _full(data: bytes, box: Box, at_least: int) -> int:
    """A full box's version, after checking its payload holds ``at_least`` bytes."""
    if box.end - box.payload < at_least:
        raise BmffError(f"box {_name(box.type)} is too short")
    return data[box.payload]


def _flags(data: bytes, box: Box) -> int:
    return int.from_bytes(data[box.payload + 1 : box.payload + 4], "big")


def _within(position: int, size: int, end: int) -> int:
    if position + size > end:
        raise BmffError("a field runs past its box")
    return position


def _u32(data: bytes, position: int, end: int) -> int:
    (value,) = struct.unpack_from(">I", data, _within(position, 4, end))
    return int(value)


def _u64(data: bytes, position: int, end: int) -> int:
    (value,) = struct.unpack_from(">Q", data, _within(position, 8, end))
    return int(value)


def _name(kind: bytes) -> str:
    return kind.decode("latin-1").encode("unicode_escape").decode("ascii")
