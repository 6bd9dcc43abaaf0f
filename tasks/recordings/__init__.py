"""Record once, replay often: the recorder (``record.py``, keystrokes merged in ``event_merge.py``),
the recording format (``recording.py``), the replayer (``replay.py``), reply scripts made from a
recording (``to_task.py``) and the command-line glue (``record_replay.py``)."""
