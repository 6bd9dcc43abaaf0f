"""The in-process inference engine: Qwen3-VL loaded with transformers (``local.py``), decoded by
our own fast path (``fast.py``: static KV cache, CUDA graphs, Triton kernels in ``kernels.py``,
the vision encoder's graph in ``vision.py``, ``graphs.py``), and a tiny random-weight model
builder for tests and benches (``random_model.py``). Importing it pulls in torch: only
``agent.backends`` does, lazily, when a run asks for the in-process model.
"""
