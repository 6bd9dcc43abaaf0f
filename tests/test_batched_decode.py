"""Several replies decoded together (engine.batch) on a tiny random Qwen3-VL (CPU, float32).

Each reply asked alongside others is the reply asked alone: the same greedy tokens, its own
sampling, thinking budget, token limit and end, whether it arrived with the others or joined
them mid-decode; a reply whose text sink fails stops alone. The decode graphs of a batch are
checked on the GPU by bench/decode.py.
"""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.local import LocalModel
from engine.random_model import build_random_model
from tests.test_fast_decode import request, screen

ASKED = [  # (screen, sampling): different prompts, limits and ways of choosing
    (11, {}),
    (12, {"presence_penalty": 1.5, "max_new_tokens": 30}),
    (13, {"thinking_budget": 10, "max_new_tokens": 120}),
    (14, {"temperature": 0.8, "top_k": 1, "max_new_tokens": 20}),  # (top-k 1: the greedy token, sampled)
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_random_model(tmp_path_factory.mktemp("sharp") / "model", mode="thinking", init_std=0.5)


@pytest.fixture(scope="module")
def alone(folder) -> dict[int, str]:
    """Each request's reply with the model to itself."""
    model = LocalModel(str(folder), max_pixels=640 * 416, batch=1)
    return {seed: model.complete(request(screen(seed), **sampling)).text for seed, sampling in ASKED}


@pytest.fixture
def model(folder) -> LocalModel:
    return LocalModel(str(folder), max_pixels=640 * 416, batch=4)


def together(model: LocalModel, asked, on_text=None) -> list[str]:
    """The replies to ``asked``, all asked at once from threads of their own."""
    start = threading.Barrier(len(asked))

    def ask(seed_and_sampling):
        seed, sampling = seed_and_sampling
        start.wait()
        return model.complete(request(screen(seed), **sampling), on_text(seed) if on_text else None).text

    with ThreadPoolExecutor(len(asked)) as pool:
        return list(pool.map(ask, asked))


def test_replies_decoded_together_are_the_replies_alone(model, alone):
    assert together(model, ASKED) == [alone[seed] for seed, _ in ASKED]
    assert model.fast.rows > 1  # the cache held several replies at once
    assert all(seconds > 0 for seconds in model.batcher.seconds.values())  # where the decoder's time went


def test_a_reply_joins_others_mid_decode(model, alone):
    long, short = ASKED[2], ASKED[0]
    started = threading.Event()
    late: list[str] = []

    def join():
        started.wait()
        late.append(model.complete(request(screen(short[0]), **short[1])).text)

    joiner = threading.Thread(target=join)
    joiner.start()
    first = model.complete(request(screen(long[0]), **long[1]), lambda text: started.set()).text
    joiner.join()
    assert first == alone[long[0]] and late == [alone[short[0]]]
    assert model.fast.rows == 2


def test_more_requests_than_rows_wait_their_turn(folder, alone):
    model = LocalModel(str(folder), max_pixels=640 * 416, batch=2)
    assert together(model, ASKED) == [alone[seed] for seed, _ in ASKED]
    assert model.fast.rows == 2


def test_a_failing_text_sink_stops_its_own_reply_alone(model, alone):
    def sink(seed):
        def take(text):
            if seed == ASKED[1][0]:
                raise RuntimeError("the page went away")
        return take

    with pytest.raises(RuntimeError, match="the page went away"):
        together(model, ASKED[:2], sink)
    # the other one finished, and both rows decode on afterwards
    assert together(model, ASKED[:2]) == [alone[seed] for seed, _ in ASKED[:2]]


def test_a_later_request_reuses_the_system_prompt_of_a_free_row(model):
    together(model, ASKED[:2])
    model.complete(request(screen(15)))
    stats = model.last_stats
    assert stats.reused_prefix > 0 and stats.reused_prefix < stats.prompt_tokens


def test_a_model_nobody_uses_is_freed(folder):
    # the decoder thread ends with its last reply: it does not keep a dropped model (a web server's
    # swapped-out mode, say) in memory
    model = LocalModel(str(folder), max_pixels=640 * 416, batch=2)
    together(model, ASKED[:2])
    gone = weakref.ref(model.model)  # the weights
    del model
    gc.collect()
    assert gone() is None
