"""The Kerberos naming rule: ``{unix seconds}_{...}_{device}_{...}.mp4``. Pure.

The timestamp is the name's first ``_`` field (ASCII digits, no leading zero), the device its
third; a name with fewer than three fields has no device. Only names ending
in ``.mp4`` (any case) directly inside the folder are recordings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGITS = re.compile(r"[1-9][0-9]{0,11}")  # Unix seconds as written: no leading zero


@dataclass(frozen=True, slots=True)
class RecordingName:
    key: str
    timestamp: int
    device: str | None


def recording_name(key: str, folder: str) -> RecordingName | None:
    """What the key of an object of ``folder`` says, or None if it is no recording's."""
    if not key.startswith(folder):
        return None
    name = key[len(folder) :]
    if "/" in name or not name.lower().endswith(".mp4"):
        return None
    fields = name[:-4].split("_")
    if not _DIGITS.fullmatch(fields[0]):
        return None
    device = fields[2] if len(fields) >= 3 else None
    return RecordingName(key, int(fields[0]), device)


@dataclass(frozen=True, slots=True)
class Window:
    """Which recordings a timeline selects: timestamps in ``[start, end)``, of ``device``
    when it is set."""

    start: int
    end: int
    device: str | None = None

    def selects(self, name: RecordingName) -> bool:
        if not self.start <= name.timestamp < self.end:
            return False
        return self.device is None or name.device == self.device

    def listing_bounds(self, folder: str) -> tuple[str, str | None]:
        """(start after, stop at): where a listing in key order may begin and end.

        Names order by time only while timestamps have the same number of digits (every
        second from 2001 to 2286 has ten), so the bounds are used only when ``start`` and
        ``end`` do; else the whole folder is listed and each name is checked."""
        if len(str(self.start)) != len(str(self.end)):
            return "", None
        # folder + "1776427171" sorts before every name of that second and after every
        # earlier one; folder + str(end) before every name of the end second.
        return folder + str(self.start), folder + str(self.end)
