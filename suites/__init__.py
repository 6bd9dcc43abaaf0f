"""Task suites: folders of task files in OSWorld's format (see evaluation/task.py)."""
