"""The wall around a task: its worker runs in a bubblewrap sandbox, so nothing it runs writes outside.

OSWorld runs each task in a throwaway virtual machine; task files run ``sudo apt-get install``,
``mkdir /home/test1`` or ``mkdir -p /home/user/Desktop/dir1``. Here the task's worker (display,
window manager, setup commands, apps, the agent's input and the getters) runs inside
``bwrap`` with this view of the machine:

- ``/`` read-only, as it is outside (so this environment's Python, apps and fonts are there);
- ``/home`` a fresh tmpfs holding the other users' homes read-only, with the task's home bound
  at ``/home/user`` (``$HOME`` inside): the only folder outside whose content survives the task,
  and only until the evaluation deletes it after scoring;
- own ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/user`` (empty tmpfs, gone with the task);
- the user is ``user`` (uid 1000, as in OSWorld's image) in a user namespace of its own, with
  its own process tree (when the worker dies, everything it started dies) and host name;
- writable: the task's output folder (run folder, result); readable again where ``/tmp`` or
  ``/home`` hid them: this project and its Python, and what the caller names (the task's
  folder, the download cache, the models).

``sudo`` inside is :data:`evaluation.machine.SUDO`: the same user on the same read-only
system, so ``sudo apt-get install`` fails harmlessly instead of installing for real.
The network is shared, for a model served over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from errors import SystemFailure

VM_HOME = "/home/user"
VM_UID = 1000
VM_HOST = "user-virtual-machine"
PASSWD = f"root:x:0:0:root:/root:/bin/bash\nuser:x:{VM_UID}:{VM_UID}:user:{VM_HOME}:/bin/bash\n" \
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = f"root:x:0:\nsudo:x:27:user\nuser:x:{VM_UID}:\nnogroup:x:65534:\n"


class SandboxUnavailable(SystemFailure):
    """bubblewrap is missing or cannot make namespaces here; the message says what to do."""


def wrap(argv: list[str], home: Path, identity: Path, writable: Iterable[Path] = (),
         readable: Iterable[Path] = ()) -> list[str]:
    """``argv`` run inside a task's sandbox, with ``home`` at ``/home/user``.

    ``identity`` is a folder for the sandbox's ``passwd`` and ``group`` (outside the home, so the
    task cannot change who it is). ``writable`` and ``readable`` are bound at their own paths.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("tasks run in a bubblewrap sandbox: install it (scripts/setup.sh, package bubblewrap)")
    identity.mkdir(parents=True, exist_ok=True)
    (identity / "passwd").write_text(PASSWD, encoding="utf-8")
    (identity / "group").write_text(GROUP, encoding="utf-8")
    view = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/home"]
    for other in sorted(Path("/home").iterdir()) if Path("/home").is_dir() else []:
        if str(other) != VM_HOME:
            view += ["--ro-bind", str(other), str(other)]
    view += ["--bind", str(home), VM_HOME]
    view += ["--tmpfs", "/run/user"] if Path("/run/user").is_dir() else ["--tmpfs", "/run"]
    view += ["--ro-bind", str(identity / "passwd"), "/etc/passwd", "--ro-bind", str(identity / "group"), "/etc/group"]
    project = Path(__file__).resolve().parent.parent
    for path in _outermost([project, Path(sys.prefix), Path(sys.base_prefix), *map(Path, readable)]):
        view += ["--ro-bind", str(path), str(path)]
    for path in writable:
        view += ["--bind", str(path), str(path)]
    isolation = ["--unshare-user", "--uid", str(VM_UID), "--gid", str(VM_UID), "--unshare-pid", "--unshare-ipc",
                 "--unshare-uts", "--hostname", VM_HOST, "--die-with-parent",
                 "--setenv", "HOME", VM_HOME, "--setenv", "USER", "user", "--setenv", "LOGNAME", "user",
                 "--setenv", "XDG_RUNTIME_DIR", f"/run/user/{VM_UID}", "--unsetenv", "TMPDIR", "--chdir", VM_HOME]
    return [bwrap, *view, *isolation, "--", *argv]


def check() -> None:
    """Raise :class:`SandboxUnavailable` unless a sandbox can be made here (user namespaces allowed)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as scratch:
        (Path(scratch) / "home").mkdir()
        done = subprocess.run(wrap(["true"], Path(scratch) / "home", Path(scratch) / "identity"),
                              capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(f"bubblewrap cannot make a sandbox here ({done.stderr.strip()[-200:]}); unprivileged "
                                 "user namespaces must be allowed (sysctl kernel.unprivileged_userns_clone=1, or "
                                 "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)")


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths that /tmp or /home would hide, without those inside another one (bound once)."""
    hidden = [p.resolve() for p in paths if p.exists() and (p.resolve().is_relative_to("/tmp") or
                                                            p.resolve().is_relative_to("/var/tmp") or
                                                            p.resolve().is_relative_to("/home"))]
    return sorted({p for p in hidden if not any(p != q and p.is_relative_to(q) for q in hidden)})
