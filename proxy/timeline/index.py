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

Reads are exact box extents: the header of each top-level box up to the first
``moof``, the ``moov``, then the index boxes or the ``moof`` boxes. Media data
(``mdat`` payloads) is never read, only skipped by its header's size. A
fragment that runs past the end of the file (a recording still being written)
ends the index. A file that is not a fragmented MP4 raises ``BmffError``.
"""

from __future__ import annotations

import asyncio
import itertools
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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

HEADER = 8  # a box header; a 64-bit size takes 8 bytes more
MAX_MOOV = 4 * 1024 * 1024  # an fMP4's moov holds no sample tables: a few KiB
MAX_INDEX_BOX = 4 * 1024 * 1024  # sidx, mfra, one moof
MAX_FRAGMENTS = 20_000  # per recording: 11 hours of 2-second fragments
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


class _Counted:
    def __init__(self, read: Read) -> None:
        self.read = read
        self.calls = 0

    async def __call__(self, offset: int, length: int) -> bytes:
        self.calls += 1
        data = await self.read(offset, length)
        if len(data) != length:
            raise BmffError("a read returned fewer bytes than asked")
        return data


async def build_index(read: Read, size: int) -> FragmentIndex:
    """The fragment index of a recording of ``size`` bytes; ``BmffError`` if it is not a
    fragmented MP4 this can index."""
    counted = _Counted(read)
    position, movie, init_size, track = 0, None, 0, None
    for _ in range(_MAX_LEADING_BOXES):
        box = await _top_box(counted, position, size)
        if box is None:
            raise BmffError("no movie fragment")
        if box.type == b"moov":
            if box.size > MAX_MOOV:
                raise BmffError("the moov is too large for a fragmented MP4")
            data = await counted(position, box.size)
            movie = parse_moov(data, Box(b"moov", 0, box.header, box.size))
            if not movie.fragmented:
                raise BmffError("not a fragmented MP4 (its moov has no mvex)")
            track = movie.main_track()
            init_size = box.end
        elif box.type == b"sidx" and track is not None:
            found = await _from_sidx(counted, box, size, track, init_size)
            if found is not None:
                return found
        elif box.type == b"moof":
            if movie is None or track is None:
                raise BmffError("a movie fragment before the moov")
            offsets, sizes, durations = await _fragments(counted, box, size, track)
            return _index(init_size, track.timescale, offsets, sizes, durations, counted.calls)
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


async def _top_box(read: _Counted, position: int, size: int) -> Box | None:
    """The top-level box at ``position``; None at the end of the file or when the box
    runs past it."""
    if size - position < 8:
        return None
    head = await read(position, HEADER)
    found = box_header(head, 0, _UNBOUNDED)
    if found is None:  # a 64-bit size follows
        if size - position < 16:
            return None
        head += await read(position + HEADER, 8)
        found = box_header(head, 0, _UNBOUNDED)
    if found is None:
        raise BmffError("a box header is cut off")
    box = Box(found.type, position, found.header, position + found.size)
    if found.size == _UNBOUNDED:  # size 0: the box runs to the end of the file
        box = Box(found.type, position, found.header, size)
    return box if box.end <= size else None


async def _from_sidx(
    read: _Counted, box: Box, size: int, track: Track, init_size: int
) -> FragmentIndex | None:
    if box.size > MAX_INDEX_BOX:
        return None
    data = await read(box.start, box.size)
    try:
        sidx = parse_sidx(data, Box(b"sidx", 0, box.header, box.size))
    except BmffError:
        return None  # a hierarchy of sidx boxes: the moof walk still works
    if sidx.track_id != track.id or len(sidx.references) > MAX_FRAGMENTS:
        return None
    offsets, sizes, durations = [], [], []
    position = box.end + sidx.first_offset
    for length, duration in sidx.references:
        if position + length > size:
            break
        offsets.append(position)
        sizes.append(length)
        durations.append(duration)
        position += length
    return _index(init_size, sidx.timescale, offsets, sizes, durations, read.calls)


async def _fragments(
    read: _Counted, first: Box, size: int, track: Track
) -> tuple[list[int], list[int], list[int]]:
    """(offsets, sizes, durations) from the mfra if the file has a usable one, else by
    walking the moof boxes from the first (whose header was read)."""
    if size - first.start >= 16:
        found = await _from_mfra(read, first.start, size, track)
        if found is not None:
            return found
    return await _walk(read, first.start, size, track, first.size + HEADER)


async def _from_mfra(
    read: _Counted, first: int, size: int, track: Track
) -> tuple[list[int], list[int], list[int]] | None:
    length = mfra_size(await read(size - 16, 16))
    if length is None or length > MAX_INDEX_BOX or length > size - first:
        return None
    data = await read(size - length, length)
    try:
        mfra = box_header(data, 0, length)
        if mfra is None or mfra.type != b"mfra" or mfra.size != length:
            return None
        entries: list[tuple[int, int]] = []
        for tfra in boxes(data, mfra.payload, mfra.end):
            if tfra.type == b"tfra":
                track_id, found = parse_tfra(data, tfra)
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
    if any(b <= a for a, b in itertools.pairwise(times)):
        return None  # times that do not grow: the walk reads what is really there
    offsets = [offset for offset, _ in ordered]
    sizes = [b - a for a, b in zip(offsets, [*offsets[1:], end], strict=True)]
    durations = [b - a for a, b in itertools.pairwise(times)]
    last = await _moof_at(read, offsets[-1], size, track)
    if last is None:
        return None
    durations.append(last[1])
    return offsets, sizes, durations


async def _moof_at(
    read: _Counted, position: int, size: int, track: Track
) -> tuple[int, int] | None:
    """(the bytes of the fragment, the track's duration in it) of the moof at ``position``;
    None if there is none there."""
    box = await _top_box(read, position, size)
    if box is None or box.type != b"moof" or box.size > MAX_INDEX_BOX:
        return None
    data = await read(position, box.size)
    fragment = parse_moof(data, Box(b"moof", 0, box.header, box.size), track)
    return box.size, fragment.duration if fragment else 0


async def _walk(
    read: _Counted, first: int, size: int, track: Track, guess: int
) -> tuple[list[int], list[int], list[int]]:
    offsets: list[int] = []
    sizes: list[int] = []
    durations: list[int] = []
    position = first
    while position < size:
        if len(offsets) >= MAX_FRAGMENTS:
            raise BmffError(f"more than {MAX_FRAGMENTS} movie fragments")
        want = min(size - position, guess)
        data = await read(position, want)
        head = box_header(data, 0, _UNBOUNDED)
        if head is None and want < 16 <= size - position:
            data += await read(position + want, 16 - want)
            head = box_header(data, 0, _UNBOUNDED)
        if head is None or head.size == _UNBOUNDED:
            break  # a box to the end of the file: no fragment follows
        if position + head.size > size:
            break  # cut off: a recording still being written
        if head.type != b"moof":
            position += head.size  # mfra, free, an mdat of no fragment: none is media
            guess = HEADER
            continue
        if head.size > MAX_INDEX_BOX:
            raise BmffError("a moof is too large")
        # The moof whole, and the next box's header (its mdat) if the file goes on.
        span = min(size - position, head.size + HEADER)
        if len(data) < span:
            data += await read(position + len(data), span - len(data))
        moof = Box(b"moof", 0, head.header, head.size)
        fragment = parse_moof(data, moof, track)
        end = head.size
        following = box_header(data, head.size, _UNBOUNDED) if span >= head.size + 8 else None
        if following is None and span == head.size + HEADER and size - position >= span + 8:
            data += await read(position + span, 8)  # the mdat's 64-bit size
            following = box_header(data, head.size, _UNBOUNDED)
        if following is not None and following.type == b"mdat":
            if following.size == _UNBOUNDED:
                following = Box(b"mdat", head.size, following.header, size - position)
            if position + following.end > size:
                break  # its media data is cut off
            end = following.end
        duration = fragment.duration if fragment else 0
        if duration == 0 and offsets and offsets[-1] + sizes[-1] == position:
            sizes[-1] += end  # no time of the main track: part of the fragment before
        else:
            offsets.append(position)
            sizes.append(end)
            durations.append(duration)
        position += end
        guess = head.size + HEADER
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
    shared: a hundred players opening one timeline read each recording once."""

    def __init__(self, max_entries: int = 10_000, max_fragments: int = 500_000) -> None:
        self.max_entries = max_entries
        self.max_fragments = max_fragments
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
            built: FragmentIndex | Unplayable = await build()
        except BmffError as exc:
            built = Unplayable(str(exc))
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
