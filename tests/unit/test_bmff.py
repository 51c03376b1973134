"""ISO BMFF boxes and the fragment index, from bytes built here: tables, then fuzzing.

The builders write boxes as ISO/IEC 14496-12 lays them out, so every path of the index
(``sidx``, ``mfra``, the walk from ``moof`` to ``moof``) is tried on a file whose truth is
known. Hypothesis then cuts, corrupts and splices them: the parser and the index either
answer or raise ``BmffError``, never anything else, and never read more than they must.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.media.bmff import (
    BmffError,
    Box,
    box_header,
    boxes,
    mfra_size,
    parse_moof,
    parse_moov,
    parse_sidx,
)
from proxy.timeline.index import MAX_FRAGMENTS, FragmentIndex, IndexCache, Unplayable, build_index

TIMESCALE = 12800
SAMPLE = 512  # ticks: 25 fps


def box(kind: bytes, *parts: bytes, large: bool = False) -> bytes:
    payload = b"".join(parts)
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big"), *parts)


def trak(track_id: int, handler: bytes, timescale: int = TIMESCALE, version: int = 0) -> bytes:
    if version == 1:  # 64-bit creation and modification times, and duration
        tkhd = full(b"tkhd", 1, 3, struct.pack(">QQII", 0, 0, track_id, 0), bytes(72))
        mdhd = full(b"mdhd", 1, 0, struct.pack(">QQIQ", 0, 0, timescale, 0), bytes(4))
    else:
        tkhd = full(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track_id), bytes(68))
        mdhd = full(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, 0), bytes(4))
    hdlr = full(b"hdlr", 0, 0, bytes(4), handler, bytes(12), b"\0")
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf")))


def moov(
    *tracks: bytes, trex_duration: int = 0, trex_track: int = 1, fragmented: bool = True
) -> bytes:
    mvhd = full(b"mvhd", 0, 0, bytes(96))
    mvex = (
        box(b"mvex", full(b"trex", 0, 0, struct.pack(">IIIII", trex_track, 1, trex_duration, 0, 0)))
        if fragmented
        else b""
    )
    return box(b"moov", mvhd, *(tracks or (trak(1, b"vide"),)), mvex)


def moof(
    number: int, decode_time: int, samples: int, *, per_sample: bool = True, track_id: int = 1
) -> bytes:
    tfhd_flags = 0x020000 | (0 if per_sample else 0x08)
    tfhd = full(
        b"tfhd",
        0,
        tfhd_flags,
        struct.pack(">I", track_id),
        b"" if per_sample else struct.pack(">I", SAMPLE),
    )
    tfdt = full(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    if per_sample:
        trun = full(
            b"trun",
            0,
            0x301,
            struct.pack(">Ii", samples, 0),
            b"".join(struct.pack(">II", SAMPLE, 100) for _ in range(samples)),
        )
    else:
        trun = full(
            b"trun", 0, 0x201, struct.pack(">Ii", samples, 0), struct.pack(">I", 100) * samples
        )
    return box(
        b"moof", full(b"mfhd", 0, 0, struct.pack(">I", number)), box(b"traf", tfhd, tfdt, trun)
    )


def fmp4(
    fragments: int = 3,
    samples: int = 50,
    *,
    mfra: bool = False,
    sidx: bool = False,
    per_sample: bool = True,
    version: int = 0,
    times: list[int] | None = None,
) -> tuple[bytes, list[tuple[int, int, int]]]:
    """A fragmented MP4 and its truth: (offset, size, duration) of each fragment. ``version``
    1 writes tkhd, mdhd and the tfra with 64-bit fields; ``times`` replaces the tfra's."""
    head = box(b"ftyp", b"isom", bytes(4), b"isomiso6") + moov(trak(1, b"vide", version=version))
    media = []
    for n in range(fragments):
        fragment = moof(n + 1, n * samples * SAMPLE, samples, per_sample=per_sample)
        media.append(fragment + box(b"mdat", bytes(100 * samples)))
    index = b""
    if sidx:
        references = b"".join(
            struct.pack(">III", len(m), samples * SAMPLE, 0x90000000) for m in media
        )
        index = full(
            b"sidx", 0, 0, struct.pack(">IIIIHH", 1, TIMESCALE, 0, 0, 0, len(media)), references
        )
    truth = []
    position = len(head) + len(index)
    for m in media:
        truth.append((position, len(m), samples * SAMPLE))
        position += len(m)
    data = head + index + b"".join(media)
    if mfra:
        times = times or [n * samples * SAMPLE for n in range(fragments)]
        # traf, trun and sample numbers of 1, 2 and 4 bytes (0b00_01_11).
        sizes = 0b000111
        fmt = ">QQBHI" if version == 1 else ">IIBHI"
        entries = b"".join(
            struct.pack(fmt, times[n], truth[n][0], 1, 1, 1) for n in range(fragments)
        )
        tfra = full(b"tfra", version, 0, struct.pack(">III", 1, sizes, fragments), entries)
        body = tfra + box(b"mfro", bytes(4), struct.pack(">I", 8 + len(tfra) + 16))
        data += box(b"mfra", body)
    return data, truth


class Reads:
    """A recording in memory, read as a backend would be: counted, exact."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0
        self.ranges: list[tuple[int, int]] = []

    async def __call__(self, offset: int, length: int) -> bytes:
        assert 0 <= offset < offset + length <= len(self.data), (offset, length)
        self.calls += 1
        self.ranges.append((offset, offset + length))
        return self.data[offset : offset + length]

    def media_bytes_read(self) -> int:
        """Bytes read that lie inside an mdat's payload."""
        payloads = [(b.payload, b.end) for b in boxes(self.data) if b.type == b"mdat"]
        return sum(
            max(0, min(end, b) - max(start, a)) for start, end in self.ranges for a, b in payloads
        )


def index_of(data: bytes) -> tuple[FragmentIndex, Reads]:
    reads = Reads(data)
    return asyncio.run(build_index(reads, len(data))), reads


def _triples(index: FragmentIndex) -> list[tuple[int, int, int]]:
    return list(zip(index.offsets, index.sizes, index.durations, strict=True))


# ---- box headers


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        (box(b"free", b"abc"), 11, Box(b"free", 0, 8, 11)),
        (box(b"free", b"abc", large=True), 19, Box(b"free", 0, 16, 19)),
        (struct.pack(">I4s", 0, b"mdat") + bytes(10), 1000, Box(b"mdat", 0, 8, 1000)),
        (struct.pack(">I4s", 24, b"uuid") + bytes(16), 24, Box(b"uuid", 0, 24, 24)),
        (b"\0\0\0\x10moo", 16, None),  # the data ends inside the header: read more
        (struct.pack(">I4s", 1, b"mdat") + b"\0\0", 100, None),
    ],
)
def test_box_headers(data: bytes, limit: int, expected: Box | None) -> None:
    assert box_header(data, 0, limit) == expected


@pytest.mark.parametrize(
    ("data", "limit", "says"),
    [
        (struct.pack(">I4s", 4, b"free"), 100, "smaller than its header"),
        (struct.pack(">I4s", 20, b"free"), 16, "runs past"),
        (struct.pack(">I4sQ", 1, b"free", 8), 100, "smaller than its header"),
        (struct.pack(">I4s", 8, b"free"), 6, "cut off"),
        (struct.pack(">I4s", 1, b"mdat") + bytes(8), 12, "64-bit box header is cut off"),
        (struct.pack(">I4s", 16, b"uuid") + bytes(8), 16, "smaller than its header"),
    ],
)
def test_impossible_box_headers_are_errors(data: bytes, limit: int, says: str) -> None:
    with pytest.raises(BmffError, match=says):
        box_header(data, 0, limit)


def test_boxes_walks_a_container_and_bounds_the_count() -> None:
    data = box(b"free") + box(b"skip", b"x") + box(b"free", large=True)
    assert [(b.type, b.start, b.end) for b in boxes(data)] == [
        (b"free", 0, 8),
        (b"skip", 8, 17),
        (b"free", 17, 33),
    ]
    with pytest.raises(BmffError, match="more than"):
        list(boxes(box(b"free") * 5000))


# ---- moov, moof, sidx, mfra


def test_the_main_track_is_the_first_video_track() -> None:
    data = moov(trak(2, b"soun", 48000), trak(7, b"vide", 90000), trex_duration=3000, trex_track=7)
    movie = parse_moov(data, box_header(data, 0, len(data)))  # type: ignore[arg-type]
    assert movie.fragmented
    assert [(t.id, t.handler, t.timescale) for t in movie.tracks] == [
        (2, b"soun", 48000),
        (7, b"vide", 90000),
    ]
    assert movie.main_track().id == 7
    assert [t.default_duration for t in movie.tracks] == [0, 3000]  # trex names track 7
    plain = moov(fragmented=False)
    assert not parse_moov(plain, box_header(plain, 0, len(plain))).fragmented  # type: ignore[arg-type]


@pytest.mark.parametrize("per_sample", [True, False])
def test_a_moof_gives_its_tracks_time(per_sample: bool) -> None:
    data = moof(3, 51200, 50, per_sample=per_sample)
    moov_data = moov()
    track = parse_moov(moov_data, box_header(moov_data, 0, len(moov_data))).main_track()  # type: ignore[arg-type]
    fragment = parse_moof(data, box_header(data, 0, len(data)), track)  # type: ignore[arg-type]
    assert fragment is not None
    assert (fragment.decode_time, fragment.duration) == (51200, 50 * SAMPLE)
    other = moof(3, 0, 50, track_id=9)
    assert parse_moof(other, box_header(other, 0, len(other)), track) is None  # type: ignore[arg-type]


def test_a_trun_that_claims_more_samples_than_it_holds_is_an_error() -> None:
    data = bytearray(moof(1, 0, 4))
    at = data.index(b"trun") + 8
    data[at : at + 4] = struct.pack(">I", 10**6)
    moov_data = moov()
    track = parse_moov(moov_data, box_header(moov_data, 0, len(moov_data))).main_track()  # type: ignore[arg-type]
    with pytest.raises(BmffError, match="more samples"):
        parse_moof(bytes(data), box_header(bytes(data), 0, len(data)), track)  # type: ignore[arg-type]


def test_sidx_and_mfro() -> None:
    data, truth = fmp4(sidx=True)
    at = data.index(b"sidx") - 4
    sidx = parse_sidx(data, box_header(data, at, len(data)))  # type: ignore[arg-type]
    assert sidx.timescale == TIMESCALE
    assert [size for size, _ in sidx.references] == [size for _, size, _ in truth]
    assert mfra_size(struct.pack(">I4sII", 16, b"mfro", 0, 100)) == 100
    assert mfra_size(struct.pack(">I4sII", 16, b"mfrx", 0, 100)) is None
    assert mfra_size(b"short") is None


# ---- the index, by each path


@pytest.mark.parametrize(
    ("kind", "options", "most_reads"),
    [
        # The first 64 bytes, the moov with the next header, then one read per moof.
        ("walk", {}, 2 + 3),
        ("walk, durations from tfhd", {"per_sample": False}, 2 + 3),
        ("sidx", {"sidx": True}, 3),
        ("mfra, three fragments: walked", {"mfra": True}, 2 + 3 + 1),  # (and the mfra's header)
        ("64-bit tkhd, mdhd and tfra", {"mfra": True, "version": 1}, 2 + 3 + 1),
    ],
)
def test_every_path_finds_the_fragments(
    kind: str, options: dict[str, bool], most_reads: int
) -> None:
    data, truth = fmp4(**options)
    index, reads = index_of(data)
    assert _triples(index) == truth, kind
    assert index.timescale == TIMESCALE
    at = data.index(b"moov") - 4
    assert index.init_size == at + struct.unpack(">I", data[at : at + 4])[0]
    assert index.duration == pytest.approx(3 * 50 * SAMPLE / TIMESCALE)
    assert reads.calls <= most_reads, reads.calls
    # Headers and index boxes only.
    assert reads.media_bytes_read() == 0


def test_an_mfra_with_many_fragments_costs_a_constant_number_of_reads() -> None:
    data, truth = fmp4(fragments=40, mfra=True)
    index, reads = index_of(data)
    assert _triples(index) == truth
    # The head, the moov, the first moof; the last 16 bytes, the mfra, the last moof.
    assert reads.calls == 6
    walked, _ = fmp4(fragments=40)
    index, reads = index_of(walked)
    assert len(index) == 40
    assert reads.calls == 2 + 40 + 1  # and the 16 bytes where an mfro would be


def test_a_file_cut_inside_a_fragment_keeps_the_fragments_before() -> None:
    data, truth = fmp4(fragments=4)
    index, _ = index_of(data[: truth[3][0] + 200])
    assert _triples(index) == truth[:3]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (box(b"ftyp", b"isom") + moov(fragmented=False) + box(b"mdat", bytes(50)), "no mvex"),
        (box(b"ftyp", b"isom") + box(b"mdat", bytes(50)) + moov(), "media data before"),
        (box(b"ftyp", b"isom") + moov(), "no movie fragment"),
        (box(b"ftyp", b"isom") + moof(1, 0, 5) + moov(), "before the moov"),
        (box(b"free") * 100, "too many boxes"),
        (b"", "no movie fragment"),
        (b"\0\0\0\x02junk" * 3, "smaller than its header"),
    ],
)
def test_what_is_not_a_fragmented_mp4_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(BmffError, match=says):
        index_of(data)


def test_the_fragment_bound_stops_an_endless_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    from proxy.timeline import index as module

    monkeypatch.setattr(module, "MAX_FRAGMENTS", 5)
    data, _ = fmp4(fragments=8, samples=2)
    with pytest.raises(BmffError, match="more than 5"):
        index_of(data)
    assert MAX_FRAGMENTS >= 10_000


# ---- fuzzing


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real-shaped fMP4, then cut, overwritten and spliced."""
    data, _ = fmp4(
        fragments=draw(st.integers(1, 4)),
        samples=draw(st.integers(1, 8)),
        mfra=draw(st.booleans()),
        sidx=draw(st.booleans()),
        per_sample=draw(st.booleans()),
    )
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        patch = draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.sampled_from(
                    [b"\0\0\0\0", b"\0\0\0\1", b"\xff\xff\xff\xff", b"\0\0\0\x08", b"moof", b"mdat"]
                ),
            )
        )
        buf[at : at + len(patch)] = patch
    cut = draw(st.integers(0, len(buf)))
    return bytes(buf[: cut or len(buf)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_files_are_indexed_or_refused_never_crash(data: bytes) -> None:
    reads = Reads(data)
    try:
        index = asyncio.run(build_index(reads, len(data)))
    except BmffError:
        return
    # Whatever it found lies inside the file, in order, and took bounded reads.
    assert 0 < index.init_size <= len(data)
    end = 0
    for offset, size, duration in _triples(index):
        assert offset >= end
        assert size > 0
        assert duration >= 0
        end = offset + size
    assert end <= len(data)
    assert reads.calls <= 8 + len(index) + 70


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_crash_the_box_reader(data: bytes) -> None:
    try:
        for found in boxes(data):
            assert found.start < found.end <= len(data)
    except BmffError:
        pass
    reads = Reads(data)
    with contextlib.suppress(BmffError):
        asyncio.run(build_index(reads, len(data)))


def test_the_cache_is_bounded_and_builds_once() -> None:
    async def main() -> None:
        cache = IndexCache(max_entries=3, max_fragments=100)
        builds: list[str] = []
        data, _ = fmp4()

        def builder(key: str) -> object:
            async def build() -> FragmentIndex:
                builds.append(key)
                await asyncio.sleep(0.01)
                return await build_index(Reads(data), len(data))

            return build

        together = await asyncio.gather(
            *(cache.get("p", "a", "e1", builder("a")) for _ in range(5))
        )  # type: ignore[arg-type]
        assert builds == ["a"]
        assert all(t is together[0] for t in together)
        for key in "bcd":
            await cache.get("p", key, "e1", builder(key))  # type: ignore[arg-type]
        assert len(cache) == 3  # "a" was the least recently used
        await cache.get("p", "a", "e1", builder("a"))  # type: ignore[arg-type]
        assert builds == ["a", "b", "c", "d", "a"]
        await cache.get("p", "a", "e2", builder("a2"))  # type: ignore[arg-type]  # a new version
        assert builds[-1] == "a2"

        async def not_mp4() -> FragmentIndex:
            raise BmffError("nope")

        assert isinstance(await cache.get("p", "x", "e", not_mp4), Unplayable)
        assert cache.fragments <= 100

        async def failing() -> FragmentIndex:
            raise OSError("backend down")

        with pytest.raises(OSError, match="backend down"):
            await cache.get("p", "y", "e", failing)
        calls = []

        async def later() -> FragmentIndex:
            calls.append(1)
            return await build_index(Reads(data), len(data))

        await cache.get("p", "y", "e", later)  # a failure is not kept
        assert calls == [1]

    asyncio.run(main())


@pytest.mark.parametrize("version", [0, 1])
def test_a_long_file_is_indexed_from_its_mfra(version: int) -> None:
    data, truth = fmp4(fragments=8, mfra=True, version=version)
    index, reads = index_of(data)
    assert _triples(index) == truth
    assert reads.calls == 2 + 1 + 3  # head, moov; the first moof; mfro, mfra, the last moof
    assert reads.media_bytes_read() == 0


def test_an_mfra_with_absurd_times_is_not_believed() -> None:
    """Times that leap by 2**63 (a 64-bit tfra can hold them): the walk reads what is there."""
    data, truth = fmp4(fragments=8, mfra=True, version=1, times=[i << 61 for i in range(8)])
    index, _ = index_of(data)
    assert _triples(index) == truth


def test_a_moof_without_its_mdat_ends_the_index() -> None:
    data, truth = fmp4(fragments=3)
    last = truth[2][0]
    cut = data[: last + data[last:].index(b"mdat") - 4]  # the last moof, and no mdat after it
    index, _ = index_of(cut)
    assert _triples(index) == truth[:2]
    with_free = cut + box(b"free", bytes(16))  # something else where its mdat should be
    index, _ = index_of(with_free)
    assert _triples(index) == truth[:2]


def test_moofs_of_another_track_join_the_main_tracks_fragments() -> None:
    """One track per moof, the other track's first: its bytes go with the next fragment,
    and no segment of zero duration is made."""
    head = box(b"ftyp", b"isom", bytes(4), b"isomiso6") + moov(
        trak(1, b"vide"), trak(2, b"soun", 48000)
    )
    parts = []
    for n in range(3):
        parts.append(moof(2 * n + 1, n * 1024, 20, track_id=2) + box(b"mdat", bytes(300)))
        parts.append(moof(2 * n + 2, n * 50 * SAMPLE, 50) + box(b"mdat", bytes(500)))
    data = head + b"".join(parts)
    index, _ = index_of(data)
    at = [len(head)]  # where each part starts
    for part in parts:
        at.append(at[-1] + len(part))
    # The first segment from the leading audio moof; each later one from a video moof, the
    # audio moof after it in the segment before.
    assert list(index.offsets) == [at[0], at[3], at[5]]
    assert list(index.sizes) == [at[3] - at[0], at[5] - at[3], at[6] - at[5]]
    assert list(index.durations) == [50 * SAMPLE] * 3
    only_audio = head + parts[0] + parts[2]
    with pytest.raises(BmffError, match="fragment"):
        index_of(only_audio)


def test_a_caller_that_leaves_does_not_cancel_a_shared_build() -> None:
    async def main() -> None:
        cache = IndexCache()
        data, _ = fmp4()
        started, release = asyncio.Event(), asyncio.Event()

        async def slow() -> FragmentIndex:
            started.set()
            await release.wait()
            return await build_index(Reads(data), len(data))

        first = asyncio.ensure_future(cache.get("p", "k", "e", slow))
        await started.wait()
        second = asyncio.ensure_future(cache.get("p", "k", "e", slow))
        await asyncio.sleep(0)
        first.cancel()  # its client went away
        release.set()
        found = await second
        assert isinstance(found, FragmentIndex)
        assert first.cancelled()
        assert (cache.misses, len(cache)) == (1, 1)  # built once, and kept

    asyncio.run(main())


class Sparse(Reads):
    """A recording whose declared size runs far past the bytes written: zeros beyond them,
    as a sparse file reads."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(data)
        self.size = size

    async def __call__(self, offset: int, length: int) -> bytes:
        assert 0 <= offset < offset + length <= self.size, (offset, length)
        self.calls += 1
        self.ranges.append((offset, offset + length))
        chunk = self.data[offset : offset + length]
        return chunk + bytes(length - len(chunk))


def test_a_moof_that_claims_gigabytes_is_refused_before_it_is_read() -> None:
    data, truth = fmp4(fragments=1)
    at = truth[0][0]
    huge = data[:at] + struct.pack(">I4s", 0, b"moof")  # size 0: to the end of the file
    reads = Sparse(huge, 3 << 30)
    with pytest.raises(BmffError, match="moof larger"):
        asyncio.run(build_index(reads, reads.size))
    assert sum(b - a for a, b in reads.ranges) < 1 << 20


def test_what_one_recording_may_cost_to_index_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from proxy.timeline import index as module

    data, _ = fmp4(fragments=40)
    monkeypatch.setattr(module, "MAX_INDEX_BYTES", 4000)
    with pytest.raises(BmffError, match="more than 4000 bytes"):
        index_of(data)


def test_an_mfra_of_fragments_smaller_than_a_fragment_is_not_believed() -> None:
    data, truth = fmp4(fragments=8, mfra=True)
    first = truth[0][0]
    # Rewrite the tfra's offsets to first, first + 1, ...: 1-byte "fragments".
    buf = bytearray(data)
    at = buf.index(b"tfra") + 4 + 4 + 12
    for n in range(8):
        struct.pack_into(">I", buf, at + n * 15 + 4, first + n)  # time 4, offset 4, 1+2+4
    index, _ = index_of(bytes(buf))
    assert _triples(index) == truth


@pytest.mark.parametrize(
    ("reference", "why"),
    [((0, 25600), "size 0"), ((5496, 0), "duration 0"), ((5496, 0xFFFFFFFF), "too long")],
)
def test_a_sidx_of_impossible_references_is_not_believed(
    reference: tuple[int, int], why: str
) -> None:
    data, truth = fmp4(sidx=True)
    buf = bytearray(data)
    at = buf.index(b"sidx") + 4 + 4 + 20  # the first reference
    size, duration = reference
    struct.pack_into(">II", buf, at, size, duration)
    index, _ = index_of(bytes(buf))
    assert _triples(index) == truth, why


def test_a_recording_too_slow_to_index_is_skipped_and_remembered() -> None:
    async def main() -> None:
        cache = IndexCache(build_seconds=0.05)
        calls = []

        async def stuck() -> FragmentIndex:
            calls.append(1)
            await asyncio.sleep(10)
            raise AssertionError("not reached")

        first = await cache.get("p", "k", "e", stuck)
        assert isinstance(first, Unplayable)
        assert "0.05" in first.reason
        assert isinstance(await cache.get("p", "k", "e", stuck), Unplayable)
        assert calls == [1]

    asyncio.run(main())
