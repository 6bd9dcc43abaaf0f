"""Record once, replay often: the recorder (``record.py``, the screen's recent frames in ``frames.py``,
keystrokes merged in ``event_merge.py``), the recording format (``recording.py``), the replayer
(``replay.py``; which windows it may act in, ``windows.py``; finding a target again, ``target.py``),
reply scripts made from a recording (``to_task.py``) and the command-line glue (``record_replay.py``)."""
