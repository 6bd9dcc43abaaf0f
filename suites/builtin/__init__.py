"""The built-in suite: tasks on our own mini-apps and on real Debian apps, each with a reference solution."""
