"""Evaluation: task suites in OSWorld's format and ScreenSpot-style grounding, offline.

``task`` reads task files, ``sandbox`` walls a task in (bubblewrap: its home at /home/user, the
rest read-only), ``machine`` is the fresh desktop a task runs on inside it (its own X display,
window manager and home), ``files`` caches what tasks download (``stand_ins`` fills in what
cannot be fetched), ``getters`` and ``metrics`` (``tables`` for spreadsheets) read and judge
what the agent left behind, ``scoring`` combines them as OSWorld does, ``worker`` runs one task
in its own process, ``suite`` runs many in parallel, ``results`` and ``report`` summarise them,
``grounding`` measures where the model points, and ``own_set`` makes a grounding set from the
suite's own apps.
"""
