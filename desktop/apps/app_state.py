"""How the bundled apps show tests what they hold: a JSON file, rewritten atomically when it changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class StateFile:
    """``write(state)`` replaces the file's content in one step, and only when the state changed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = ""

    def write(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, ensure_ascii=False, indent=2)
        if self.path is None or text == self._last:
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(self.path)
        self._last = text
