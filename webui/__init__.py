"""The web UI and HTTP API: ``run_agent.py serve`` -> http://127.0.0.1:7860.

Chat with the loaded model, run and supervise the agent from a browser, and the APIs other
tools use (the seed's ``/api/predict``, OpenAI-compatible ``/v1/chat/completions``, runs).
Everything goes through the agent's own core: one shared model (:mod:`webui.model_host`),
the same safety gate and run folders (:mod:`webui.desk`).
"""
