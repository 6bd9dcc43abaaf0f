"""An unexpected error ends the process with the documented system-error code, 70, not Python's 1."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_an_unexpected_exception_exits_70_with_its_story_on_stderr(tmp_path):
    # 400 megapixels: PIL refuses to open it (DecompressionBombError), an error no caller expects
    image = _png_header_only(tmp_path / "huge.png", 20000, 20000)
    replies = tmp_path / "r.txt"
    replies.write_text("test script\n--- reply ---\nan answer\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(ROOT / "run_agent.py"), "ask", str(image), "What is it?",
                             "--backend", "scripted", "--script", str(replies)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 70, result.stderr
    assert "unexpected error: DecompressionBombError" in result.stderr
    assert "Traceback" in result.stderr  # the story stays, for whoever fixes it
