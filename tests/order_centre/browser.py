"""A real headless browser for the HTML reports: Debian's chromium, a fresh profile each time,
nothing fetched from the network; and a small PNG reader to look at what it drew."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars")


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("no chromium on this machine: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("no chromium on this machine (apt-get install -y chromium)")


def screenshot(page: Path, *, width: int = 1400, height: int = 1000) -> tuple[int, int, list[bytes]]:
    """Open ``page`` in headless chromium and return the screenshot as (width, height, RGB rows)."""
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="o2o-chromium-") as profile:
        png = Path(profile) / "shot.png"
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}/profile", f"--window-size={width},{height}",
                        f"--screenshot={png}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
        return read_png(png.read_bytes())


def dump_dom(page: Path) -> str:
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="o2o-chromium-") as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}/profile", "--dump-dom",
                               page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
        return done.stdout.decode("utf-8")


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """8-bit RGB or RGBA, non-interlaced (what chromium writes) -> rows of RGB bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        previous = line
        rows.append(bytes(line) if channels == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
    return width, height, rows


def columns_of_colour(rows: list[bytes], rgb: tuple[int, int, int], *, tolerance: int = 12) -> dict[int, int]:
    """x -> the longest vertical run of pixels of that colour in the column (a bar's height)."""
    longest: dict[int, int] = {}
    current: dict[int, int] = {}
    for row in rows:
        for x in range(len(row) // 3):
            r, g, b = row[3 * x], row[3 * x + 1], row[3 * x + 2]
            if abs(r - rgb[0]) <= tolerance and abs(g - rgb[1]) <= tolerance and abs(b - rgb[2]) <= tolerance:
                current[x] = current.get(x, 0) + 1
                longest[x] = max(longest.get(x, 0), current[x])
            else:
                current[x] = 0
    return longest
