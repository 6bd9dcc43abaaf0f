"""Key names: what models write ("Return", "cmd", "ArrowUp", "ctrl+c") -> pyautogui's names.

Pure data and string work, so the safety gate can reason about keys without a display.
"""

from __future__ import annotations

import string

from actions.schema import InvalidAction

_NAMED = {
    # modifiers
    "ctrl": "ctrl", "control": "ctrl", "ctl": "ctrl", "lctrl": "ctrlleft", "rctrl": "ctrlright",
    "controlleft": "ctrlleft", "controlright": "ctrlright", "ctrlleft": "ctrlleft", "ctrlright": "ctrlright",
    "shift": "shift", "lshift": "shiftleft", "rshift": "shiftright", "shiftleft": "shiftleft",
    "shiftright": "shiftright",
    "alt": "alt", "option": "alt", "opt": "alt", "lalt": "altleft", "ralt": "altright", "altleft": "altleft",
    "altright": "altright", "altgr": "altright",
    "super": "win", "win": "win", "windows": "win", "cmd": "win", "command": "win", "meta": "win",
    "superl": "winleft", "superr": "winright", "winleft": "winleft", "winright": "winright",
    "metaleft": "winleft", "metaright": "winright",
    # editing and navigation
    "enter": "enter", "return": "enter", "kpenter": "enter", "tab": "tab", "space": "space",
    "spacebar": "space", "backspace": "backspace", "bksp": "backspace", "delete": "delete", "del": "delete",
    "insert": "insert", "ins": "insert", "escape": "esc", "esc": "esc",
    "home": "home", "end": "end", "pageup": "pageup", "pgup": "pageup", "prior": "pageup",
    "pagedown": "pagedown", "pgdn": "pagedown", "next": "pagedown",
    "up": "up", "down": "down", "left": "left", "right": "right",
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "capslock": "capslock", "numlock": "numlock", "scrolllock": "scrolllock",
    "printscreen": "printscreen", "print": "printscreen", "sysrq": "printscreen", "prtsc": "printscreen", "pause": "pause",
    "menu": "apps", "apps": "apps", "contextmenu": "apps",
    # media
    "volumeup": "volumeup", "volumedown": "volumedown", "volumemute": "volumemute",
    "playpause": "playpause", "nexttrack": "nexttrack", "prevtrack": "prevtrack",
    # punctuation spelled out
    "plus": "+", "minus": "-", "comma": ",", "period": ".", "slash": "/", "backslash": "\\",
    "semicolon": ";", "apostrophe": "'", "quote": "'", "grave": "`", "equal": "=", "equals": "=",
    "bracketleft": "[", "bracketright": "]",
}
_NAMED.update({f"f{n}": f"f{n}" for n in range(1, 25)})
_CHARACTERS = set(string.ascii_lowercase + string.digits + string.punctuation)
MODIFIERS = frozenset({"ctrl", "ctrlleft", "ctrlright", "shift", "shiftleft", "shiftright", "alt", "altleft",
                       "altright", "win", "winleft", "winright"})


def key_name(name: str) -> str:
    """One model key name as pyautogui's name; :class:`InvalidAction` if there is none."""
    name = name if name.strip() == "" else name.strip()
    if len(name) == 1:
        if name.lower() in _CHARACTERS:
            return name.lower()
        raise InvalidAction(f"unknown key {name!r}: use the type action for text")
    folded = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    if folded in _NAMED:
        return _NAMED[folded]
    raise InvalidAction(
        f"unknown key {name!r}; use names like ctrl, alt, shift, super, enter, tab, esc, "
        "backspace, delete, up, down, left, right, home, end, pageup, pagedown, f1..f24, or one character"
    )


_GENERIC = {side: name for name in ("ctrl", "shift", "alt", "win") for side in (name + "left", name + "right")}


def chord(keys: list[str]) -> frozenset[str]:
    """The keys as a set with left/right modifiers folded together: what a rule compares."""
    return frozenset(_GENERIC.get(k, k) for k in key_combo(keys))


def key_combo(keys: list[str]) -> list[str]:
    """A model's key list as pyautogui names; "ctrl+c" written as one string is split."""
    names: list[str] = []
    for key in keys:
        parts = key.split("+") if "+" in key.strip("+") else [key]
        names.extend(key_name(part) for part in parts)
    return names
