"""A recording's fragment index, built from its boxes by small ranged reads, and the
bounded cache that keeps it per (provider, key, ETag).

The index says where the initialisation section ends (``ftyp`` + ``moov``: the
HLS ``EXT-X-MAP``) and, for each movie fragment, its bytes (``moof`` through its
``mdat``) and duration. It is read, in this order of preference, from:

1. a ``sidx`` before the first ``moof``: its references are the fragments;
2. an ``mfra`` at the end (its ``mfro`` is the file's last 16 bytes): the
   ``tfra`` entries of the main track give each fragment's offset and start
   time; the last fragment's ``moof`` is read for its duration;
3. otherwise, one read per ``moof`` (sized to the previous one, plus the next
   box's header), walking from box to box.

The first read is the first 64 bytes (the ``ftyp`` and the next header), then
the ``moov`` with the header after it, then the first ``moof`` with its
``mdat``'s header; a file that looks like more than four fragments is then
indexed from its ``mfra`` (its last 16 bytes, the ``mfra``, the last ``moof``).
Media data (``mdat`` payloads) is skipped by its header's size, never read,
but for those last 16 bytes of a file that turns out to have no ``mfra``, or
the few bytes by which one ``moof`` is smaller than the one before it. A
fragment that runs past the end of the file (a recording still being written)
ends the index. A file that is not a fragmented MP4 raises ``BmffError``.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from proxy.media.bmff import (
    BmffError,
    Box,
    Movie,
    Track,
    box_header,
    boxes,
    mfra_size,
    parse_moof,
    parse_moov,
    parse_sidx,
    parse_tfra,
)

# (offset, length) -> exactly those bytes of the recording.
Read = Callable[[int, int], Awaitable[bytes]]

HEAD_READ = 64  # the first read: the ftyp whole and the header after it, in most files
MFRA_WORTH = 4  # fragments: a walk of more costs more reads than the mfra (three)
MAX_MOOV = 4 * 1024 * 1024  # an fMP4's moov holds no sample tables: a few KiB
MAX_INDEX_BOX = 4 * 1024 * 1024  # a sidx or an mfra
MAX_MOOF = 1024 * 1024  # one moof: a 2 s fragment's is under 1 KiB, an hour's of 60 fps ~4 MiB
MAX_FRAGMENTS = 20_000  # per recording: 11 hours of 2-second fragments
MAX_INDEX_BYTES = 16 * 1024 * 1024  # read to index one recording, all reads together
MIN_FRAGMENT = 32  # bytes: a moof with its mfhd and a traf, and an mdat header
MAX_FRAGMENT_SECONDS = 3600  # a fragment longer than an hour is not a camera's
_MAX_LEADING_BOXES = 64  # top-level boxes before the first moof
_UNBOUNDED = 1 << 64


@dataclass(frozen=True, slots=True)
class FragmentIndex:
    """Where a recording's init section ends and where each fragment lies, and how long
    it lasts (in ``timescale`` ticks)."""

    init_size: int
    timescale: int
    offsets: array[int]
    sizes: array[int]
    durations: array[int]
    reads: int = 0  # the ranged reads it took to build
    # Text made from it once, by whoever renders it (the playlist's lines): kept with it, so
    # a warm playlist joins strings instead of formatting numbers.
    rendered: list[str] = field(default_factory=list, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def duration(self) -> float:
        """Seconds."""
        return sum(self.durations) / self.timescale


@dataclass(frozen=True, slots=True)
class Unplayable:
    """A recording that is not a fragmented MP4 (kept so it is not read again)."""

    reason: str


class _Reader:
    """A recording's bytes by exact ranged reads, counted; what the last read brought is kept,
    so the box header that followed it costs no call of its own."""

    def __init__(self, read: Read, size: int) -> None:
        self._read = read
        self.size = size
        self.calls = 0
        self.read_bytes = 0
        self._at = 0
        self._data = b""

    async def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset`` (inside the file)."""
        held = offset - self._at
        if held >= 0 and held + length <= len(self._data):
            return self._data[held : held + length]
        self.calls += 1
        self.read_bytes += length
        if self.read_bytes > MAX_INDEX_BYTES:
            raise BmffError(f"indexing it would read more than {MAX_INDEX_BYTES} bytes")
        data = await self._read(offset, length)
        if len(data) != length:
            raise BmffError("a read returned fewer bytes than asked")
        self._at, self._data = offset, data
        return data

    async def box(self, position: int) -> Box | None:
        """The top-level box at ``position``; None at the end of the file, or when the box
        runs past it."""
        if self.size - position < 8:
            return None
        found = box_header(await self.read(position, 8), 0, _UNBOUNDED)
        if found is None:  # a 64-bit size follows
            if self.size - position < 16:
                return None
            found = box_header(await self.read(position, 16), 0, _UNBOUNDED)
        if found is None:
            raise BmffError("a box header is cut off")
        end = self.size if found.size == _UNBOUNDED else position + found.size
        return Box(found.type, position, found.header, end) if end <= self.size else None


async def build_index(read: Read, size: int) -> FragmentIndex:
    """The fragment index of a recording of ``size`` bytes; ``BmffError`` if it is not a
    fragmented MP4 this can index."""
    try:
        index = await _build(_Reader(read, size))
    except (OverflowError, struct.error, IndexError) as exc:
        # Numbers no real file holds (a field past the data, a time beyond 2**63): not ours.
        raise BmffError(f"impossible values ({type(exc).__name__})") from None
    if not any(index.durations):
        raise BmffError("no fragment holds the main track's time")
    if max(index.durations) > MAX_FRAGMENT_SECONDS * index.timescale:
        raise BmffError(f"a fragment longer than {MAX_FRAGMENT_SECONDS} s")
    return index


async def _build(reader: _Reader) -> FragmentIndex:
    size = reader.size
    if size >= 8:
        await reader.read(0, min(size, HEAD_READ))  # the ftyp and the next box's header
    position, movie, init_size, track = 0, None, 0, None
    for _ in range(_MAX_LEADING_BOXES):
        box = await reader.box(position)
        if box is None:
            raise BmffError("no movie fragment")
        if box.type == b"moov":
            if box.size > MAX_MOOV:
                raise BmffError("the moov is too large for a fragmented MP4")
            # The moov and the header of the box after it, in one read.
            data = await reader.read(position, min(size - position, box.size + 8))
            movie = parse_moov(data, Box(b"moov", 0, box.header, box.size))
            if not movie.fragmented:
                raise BmffError("not a fragmented MP4 (its moov has no mvex)")
            track = movie.main_track()
            init_size = box.end
        elif box.type == b"sidx" and track is not None:
            found = await _from_sidx(reader, box, track, init_size)
            if found is not None:
                return found
        elif box.type == b"moof":
            if movie is None or track is None:
                raise BmffError("a movie fragment before the moov")
            offsets, sizes, durations = await _fragments(reader, box, track)
            return _index(init_size, track.timescale, offsets, sizes, durations, reader.calls)
        elif box.type == b"mdat":
            raise BmffError("not a fragmented MP4 (media data before any movie fragment)")
        position = box.end
    raise BmffError("too many boxes before the first movie fragment")


def _index(
    init_size: int,
    timescale: int,
    offsets: list[int],
    sizes: list[int],
    durations: list[int],
    reads: int,
) -> FragmentIndex:
    if not offsets:
        raise BmffError("no complete movie fragment")
    return FragmentIndex(
        init_size,
        timescale,
        array("q", offsets),
        array("q", sizes),
        array("q", durations),
        reads,
    )


async def _from_sidx(
    reader: _Reader, box: Box, track: Track, init_size: int
) -> FragmentIndex | None:
    if box.size > MAX_INDEX_BOX:
        return None
    data = await reader.read(box.start, min(reader.size - box.start, box.size + 8))
    try:
        sidx = parse_sidx(data, Box(b"sidx", 0, box.header, box.size))
    except BmffError:
        return None  # a hierarchy of sidx boxes: the moof walk still works
    if sidx.track_id != track.id or len(sidx.references) > MAX_FRAGMENTS:
        return None
    position = box.end + sidx.first_offset
    longest = MAX_FRAGMENT_SECONDS * sidx.timescale
    if any(not (n >= MIN_FRAGMENT and 0 < d <= longest) for n, d in sidx.references):
        return None  # sizes or durations no fragment has: the walk reads what is there
    first = await reader.box(position)
    if first is None or first.type != b"moof":
        return None  # it does not point at a fragment
    offsets, sizes, durations = [], [], []
    for length, duration in sidx.references:
        if position + length > reader.size:
            break
        offsets.append(position)
        sizes.append(length)
        durations.append(duration)
        position += length
    return _index(init_size, sidx.timescale, offsets, sizes, durations, reader.calls)


@dataclass(frozen=True, slots=True)
class _Step:
    """What lies at a position of the walk: a fragment (``moof`` > 0) of ``length`` bytes
    and ``duration`` ticks, another box to skip (``moof`` == 0), or the end (None)."""

    length: int
    duration: int
    moof: int


async def _step(reader: _Reader, position: int, guess: int, track: Track) -> _Step | None:
    """One read, sized ``guess``, for the box at ``position``: a moof whole and the header
    of the box after it (its mdat), when the guess is right."""
    size = reader.size
    if size - position < 8:
        return None
    data = await reader.read(position, min(size - position, max(min(guess, MAX_MOOF + 8), 8)))
    head = await reader.box(position)
    if head is None or (head.end == size and head.type != b"moof"):
        return None  # cut off (a recording still being written), or a last box of no media
    if head.type != b"moof":
        return _Step(head.size, 0, 0)  # mfra, free, an mdat of no fragment: none is media
    if head.size > MAX_MOOF:
        raise BmffError(f"a moof larger than {MAX_MOOF} bytes")
    span = min(size - position, head.size + 8)
    if len(data) < span:
        data = await reader.read(position, span)
    fragment = parse_moof(data, Box(b"moof", 0, head.header, head.size), track)
    # Its samples are in the mdat after it: without one whole, no fragment plays from here.
    following = await reader.box(head.end) if size - head.end >= 8 else None
    if following is None or following.type != b"mdat":
        return None
    return _Step(following.end - position, fragment.duration if fragment else 0, head.size)


async def _fragments(
    reader: _Reader, first: Box, track: Track
) -> tuple[list[int], list[int], list[int]]:
    """(offsets, sizes, durations) of the fragments, walking from moof to moof; after the
    first, from the mfra instead when the file holds one and the walk would cost more."""
    offsets: list[int] = []
    sizes: list[int] = []
    durations: list[int] = []
    if first.size > MAX_MOOF:
        raise BmffError(f"a moof larger than {MAX_MOOF} bytes")
    position, guess = first.start, first.size + 8
    pending: int | None = None  # where moofs without the main track's time began
    for _ in range(2 * MAX_FRAGMENTS + _MAX_LEADING_BOXES):
        step = await _step(reader, position, guess, track)
        if step is None:
            break
        if not step.moof:
            position, guess, pending = position + step.length, 8, None
            continue
        if step.duration == 0:
            # No time of the main track (another track's moof): part of the fragment before
            # it, or, at the start, of the one after it.
            if offsets and offsets[-1] + sizes[-1] == position:
                sizes[-1] += step.length
            elif pending is None:
                pending = position
        else:
            if len(offsets) >= MAX_FRAGMENTS:
                raise BmffError(f"more than {MAX_FRAGMENTS} movie fragments")
            start = position if pending is None else pending
            offsets.append(start)
            sizes.append(position + step.length - start)
            durations.append(step.duration)
            pending = None
        position, guess = position + step.length, step.moof + 8
        # After the first fragment: the mfra, if this file looks long enough to be worth it.
        first_done = len(offsets) == 1 and pending is None and step.duration > 0
        if first_done and (reader.size - first.start) // step.length > MFRA_WORTH:
            found = await _from_mfra(reader, first.start, track, guess)
            if found is not None:
                return found
    else:
        raise BmffError(f"more than {MAX_FRAGMENTS} movie fragments")
    return offsets, sizes, durations


async def _from_mfra(
    reader: _Reader, first: int, track: Track, guess: int
) -> tuple[list[int], list[int], list[int]] | None:
    size = reader.size
    if size - first < 16:
        return None
    length = mfra_size(await reader.read(size - 16, 16))
    if length is None or length > MAX_INDEX_BOX or length > size - first:
        return None
    data = await reader.read(size - length, length)
    try:
        mfra = box_header(data, 0, length)
        if mfra is None or mfra.type != b"mfra" or mfra.size != length:
            return None
        entries: list[tuple[int, int]] = []
        for tfra in boxes(data, mfra.payload, mfra.end):
            if tfra.type == b"tfra":
                # A few entries per fragment at most (one per track, per sync sample).
                track_id, found = parse_tfra(data, tfra, 4 * MAX_FRAGMENTS)
                if track_id == track.id:
                    entries = found
                    break
    except BmffError:
        return None
    end = size - length
    starts: dict[int, int] = {}
    for time, offset in entries:
        if first <= offset < end:
            starts.setdefault(offset, time)
    ordered = sorted(starts.items())
    if not ordered or ordered[0][0] != first or len(ordered) > MAX_FRAGMENTS:
        return None
    times = [time for _, time in ordered]
    longest = MAX_FRAGMENT_SECONDS * track.timescale
    if any(not 0 < b - a <= longest for a, b in itertools.pairwise(times)):
        return None  # times that do not grow, or jump absurdly: the walk reads what is there
    offsets = [offset for offset, _ in ordered]
    sizes = [b - a for a, b in zip(offsets, [*offsets[1:], end], strict=True)]
    if min(sizes) < MIN_FRAGMENT:
        return None  # offsets closer than a fragment can be: not believed
    durations = [b - a for a, b in itertools.pairwise(times)]
    last = await _step(reader, offsets[-1], guess, track)
    if last is None or not last.moof:
        return None
    durations.append(last.duration)
    return offsets, sizes, durations


def movie_of(data: bytes) -> Movie:
    """The movie of a whole file in memory (tests and tools)."""
    for box in boxes(data):
        if box.type == b"moov":
            return parse_moov(data, box)
    raise BmffError("no moov")


class IndexCache:
    """Fragment indexes by (provider, key, ETag), least recently used out first, within a
    bound on entries and one on the fragments they hold together. A build in flight is
    shared: a hundred players opening one timeline read each recording once; at most
    ``max_builds`` run at a time in the process, each for at most ``build_seconds``."""

    def __init__(
        self,
        max_entries: int = 10_000,
        max_fragments: int = 250_000,
        max_builds: int = 32,
        build_seconds: float = 60.0,
    ) -> None:
        self.max_entries = max_entries
        self.max_fragments = max_fragments
        self.build_seconds = build_seconds
        # Builds at a time in the whole process: each holds a few reads' bytes and its lists.
        self._builds = asyncio.Semaphore(max_builds)
        self._entries: OrderedDict[tuple[str, str, str], FragmentIndex | Unplayable] = OrderedDict()
        self._fragments = 0
        self._building: dict[tuple[str, str, str], asyncio.Task[FragmentIndex | Unplayable]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def fragments(self) -> int:
        return self._fragments

    async def get(
        self,
        provider: str,
        key: str,
        etag: str,
        build: Callable[[], Awaitable[FragmentIndex]],
    ) -> FragmentIndex | Unplayable:
        """The cached index, or the one ``build`` makes (``Unplayable`` if it raises
        ``BmffError``; other errors propagate and nothing is kept).

        The build runs as its own task: a caller that leaves (its client went away) does
        not cancel it for the others waiting on it."""
        name = (provider, key, etag)
        found = self._entries.get(name)
        if found is not None:
            self._entries.move_to_end(name)
            self.hits += 1
            return found
        task = self._building.get(name)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._build(name, build))
            self._building[name] = task
            task.add_done_callback(lambda done: self._built(name, done))
        else:
            self.hits += 1
        return await asyncio.shield(task)

    async def _build(
        self, name: tuple[str, str, str], build: Callable[[], Awaitable[FragmentIndex]]
    ) -> FragmentIndex | Unplayable:
        try:
            async with self._builds, asyncio.timeout(self.build_seconds):
                built: FragmentIndex | Unplayable = await build()
        except BmffError as exc:
            built = Unplayable(str(exc))
        except TimeoutError:
            # A recording this slow to index (a walk of thousands of fragments, or one made
            # to be slow) would hold a build slot from everyone's timelines: it is skipped,
            # and remembered so until it changes.
            built = Unplayable(f"not indexed within {self.build_seconds:g}s")
        self._keep(name, built)
        return built

    def _built(self, name: tuple[str, str, str], task: asyncio.Task[object]) -> None:
        self._building.pop(name, None)
        if not task.cancelled():
            task.exception()  # retrieved: the callers waiting got it; nobody else must

    def _keep(self, name: tuple[str, str, str], built: FragmentIndex | Unplayable) -> None:
        weight = len(built) if isinstance(built, FragmentIndex) else 0
        if weight > self.max_fragments:
            return
        self._entries[name] = built
        self._fragments += weight
        while len(self._entries) > self.max_entries or self._fragments > self.max_fragments:
            _, dropped = self._entries.popitem(last=False)
            self._fragments -= len(dropped) if isinstance(dropped, FragmentIndex) else 0
