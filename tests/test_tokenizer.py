"""The tokenizer and chat template read without transformers give what transformers' own
``AutoTokenizer`` gives: the same ids, the same text back, the same prompts."""

from __future__ import annotations

import shutil

import pytest
from transformers import AutoTokenizer

from engine.tokenizer import ChatTokenizer, TokenizerError

TEXTS = [
    "Click the Name field, then type Ada Lovelace.",
    "<|im_start|>user\nFill in the form.<|im_end|>\n<|im_start|>assistant\n<think>\n",
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "type", "text": "北京市 海淀区"}}\n</tool_call>',
    "Grüße, naïve café – “quotes”, emoji 🙂, tabs\tand\r\nnewlines\n\n  spaces  ",
    "",
]

# The constructs of Qwen3-VL's own templates: namespaces set in loops, tests on the content's
# type, tojson of tools and arguments, loop indexes, raise_exception, whitespace control.
FEATURES = r"""{%- if tools %}{{- '<|im_start|>system\n# Tools\n' }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role not in ['system', 'user', 'assistant'] %}{{ raise_exception('unknown role ' + message.role) }}{% endif %}
    {{- '<|im_start|>' + message.role + '\n' }}
    {%- if message.content is string %}
        {{- message.content }}
    {%- else %}
        {%- for content in message.content %}
            {%- if content.type == 'image' or 'image' in content %}
                {%- set image_count.value = image_count.value + 1 %}
                {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                <|vision_start|><|image_pad|><|vision_end|>
            {%- elif 'text' in content %}
                {{- content.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {%- if message.tool_calls %}{%- for call in message.tool_calls %}
        {%- if (loop.first and message.content) or (not loop.first) %}{{- '\n' }}{%- endif %}
        {{- '<tool_call>\n' }}{{- call.arguments | tojson }}{{- '\n</tool_call>' }}
    {%- endfor %}{%- endif %}
    {{- '<|im_end|>\n' }}
    {%- if loop.index0 == 0 %}{{- '' }}{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' + eos_token[:0] }}
{%- endif %}
"""

MESSAGES = [
    [{"role": "system", "content": [{"type": "text", "text": "You are a computer-use agent."}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Fill in the form."}]}],
    [{"role": "user", "content": "Just text, 中文 too."},
     {"role": "assistant", "content": "Done.", "tool_calls": [{"arguments": {"action": "left_click", "城": [1, 2]}}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "  two  "}]}],
]


@pytest.fixture(scope="module")
def both(tiny_models):
    folder = tiny_models["thinking"]
    return ChatTokenizer(folder), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("text", TEXTS)
def test_ids_and_text_are_transformers_own(both, text):
    ours, theirs = both
    ids = ours.encode(text)
    assert ids == theirs(text, add_special_tokens=False)["input_ids"]
    assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=False) == text
    assert ours.decode(ids[:3]) == theirs.decode(ids[:3], skip_special_tokens=False)


def test_special_tokens_are_found_by_name(both):
    ours, theirs = both
    for token in ("<|im_end|>", "<|image_pad|>", "</think>"):
        assert ours.token_id(token) == theirs.convert_tokens_to_ids(token) is not None


@pytest.mark.parametrize("messages", MESSAGES)
@pytest.mark.parametrize("mode", ["thinking", "instruct", "features"])
def test_prompts_are_those_of_apply_chat_template(both, tiny_models, messages, mode):
    ours, theirs = both
    if mode == "features":
        template = FEATURES
    else:
        template = ChatTokenizer(tiny_models[mode]).chat_template
    ours.chat_template = template
    ours.__dict__.pop("_template", None)
    for generation in (True, False):
        assert ours.render(messages, generation) == theirs.apply_chat_template(
            messages, chat_template=template, tokenize=False, add_generation_prompt=generation)


def test_a_template_that_raises_says_why(both):
    ours, _ = both
    ours.chat_template = FEATURES
    ours.__dict__.pop("_template", None)
    with pytest.raises(Exception, match="unknown role tool"):
        ours.render([{"role": "tool", "content": "x"}])


@pytest.mark.parametrize(("change", "words"), [
    (lambda folder: (folder / "tokenizer.json").unlink(), "has no tokenizer.json"),
    (lambda folder: (folder / "tokenizer.json").write_text("{}"), "tokenizer.json cannot be read"),
    (lambda folder: (folder / "chat_template.jinja").unlink(), "has no chat template"),
    (lambda folder: (folder / "tokenizer_config.json").write_text("{"), "tokenizer_config.json is not valid JSON"),
])
def test_a_broken_tokenizer_is_refused_with_what_is_wrong(tiny_models, tmp_path, change, words):
    folder = shutil.copytree(tiny_models["instruct"], tmp_path / "broken")
    change(folder)
    with pytest.raises(TokenizerError, match=words):
        ChatTokenizer(folder)
