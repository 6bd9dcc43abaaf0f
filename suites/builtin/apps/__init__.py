"""Small seeded Tk apps for the built-in suite: each publishes its state as JSON.

Run one with ``python -m suites.builtin.apps.<name> [--seed N] [--state FILE] [--boxes FILE]``.
"""
