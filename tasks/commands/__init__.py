"""Natural-language commands: ``run`` a task with the agent, ``ask`` about an image."""
