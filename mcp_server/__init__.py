"""``run_agent.py mcp``: the agent's hands for other assistants, over the Model Context Protocol.

An MCP client (a desktop assistant, a coding agent) gets tools to see the screen and act on it,
and to run the agent, a form fill or a replay, through the same pair of hands as every other
path (:mod:`agent.hands`): the same safety gate, the same pause while a person uses the mouse
or keyboard, the same run folders. Where the gate wants a person's approval, the client is
asked by an MCP elicitation; a client that cannot ask its user gets a refusal.

- :mod:`mcp_server.calls`: one tool call followed from the desktop's thread: its progress, and
  the gate's questions as elicitations;
- :mod:`mcp_server.desktop`: the desktop the tools drive, one thing at a time;
- :mod:`mcp_server.server`: the tools, and the stdio and streamable-HTTP transports.
"""
