"""Evaluation: task suites in OSWorld's format and ScreenSpot-style grounding, offline.

``task`` reads task files, ``machine`` is the fresh desktop a task runs on (its own X display,
window manager and throwaway home), ``getters`` and ``metrics`` read and judge what the agent
left behind, ``scoring`` combines them as OSWorld does, ``worker`` runs one task in its own
process, ``suite`` runs many in parallel, ``results`` and ``report`` summarise them,
``grounding`` measures where the model points, and ``own_set`` makes a grounding set from the
suite's own apps.
"""
