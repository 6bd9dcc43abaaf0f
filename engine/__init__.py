"""The in-process inference engine: Qwen3-VL loaded with transformers (``local.py``), decoded by
our own fast path (``fast.py``: static KV cache, CUDA graphs, Triton kernels in ``kernels.py``,
the vision encoder's graph in ``vision.py``, ``graphs.py``), quantised weights (``quant.py``,
FP8 and INT4, with their kernels in ``quant_kernels.py``), and a tiny random-weight model
builder for tests and benches (``random_model.py``, which also writes FP8 checkpoints). Importing it pulls in torch: only
``agent.backends`` does, lazily, when a run asks for the in-process model.
"""
