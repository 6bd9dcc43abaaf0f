"""The model's tokenizer and chat template, read from its folder without transformers.

``tokenizer.json`` goes to the ``tokenizers`` library as it is, which is what transformers'
fast tokenizers wrap; the chat template renders in a sandboxed Jinja environment set up as
transformers sets up its own (blocks trimmed, ``loopcontrols``, a ``tojson`` that keeps
non-ASCII text, ``raise_exception``, ``strftime_now``, the special tokens as variables), so
prompts come out as ``apply_chat_template`` makes them (``tests/test_tokenizer.py`` compares the
two). Importing transformers' tokenizer classes costs a second or two of every cold start.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")


class TokenizerError(ValueError):
    """A model folder whose tokenizer or chat template cannot be read."""


class ChatTokenizer:
    """Text to token ids and back, and messages to a prompt, as the model's folder defines them."""

    def __init__(self, folder: Path) -> None:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise TokenizerError(f"{folder} has no tokenizer.json")
        try:
            self.backend = Tokenizer.from_file(str(path))
        except Exception as error:  # (the library raises its own exception type)
            raise TokenizerError(f"tokenizer.json cannot be read: {error}") from None
        config = _json(folder / "tokenizer_config.json")
        self.special = {name: _content(config[name]) for name in SPECIAL_TOKENS if config.get(name)}
        self.chat_template = find_chat_template(folder, config)

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``, the special tokens in it recognised, none added."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``, special tokens included (no clean-up of spaces: transformers skips it
        for byte-level BPE, which it would corrupt)."""
        return self.backend.decode(ids, skip_special_tokens=False)

    def token_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        """The prompt for ``messages`` (dicts of role and content) from the chat template."""
        return self._template.render(messages=messages, tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt, **self.special)

    @cached_property
    def _template(self) -> Any:
        import jinja2
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise jinja2.exceptions.TemplateError(message)

        def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
                   sort_keys: bool = False) -> str:
            return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                              sort_keys=sort_keys)

        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        environment.filters["tojson"] = tojson
        environment.globals.update(raise_exception=raise_exception,
                                   strftime_now=lambda format: datetime.now().strftime(format))
        try:
            return environment.from_string(self.chat_template)
        except jinja2.exceptions.TemplateSyntaxError as error:
            raise TokenizerError(f"the chat template does not parse: {error}") from None


def find_chat_template(folder: Path, config: dict[str, Any]) -> str:
    """The model's chat template: ``tokenizer_config.json``'s, else the processor's file beside it."""
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    if template:
        return template
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    legacy = folder / "chat_template.json"
    if legacy.is_file():
        return _json(legacy).get("chat_template") or ""
    raise TokenizerError(f"{folder} has no chat template (chat_template.jinja or in tokenizer_config.json)")


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise TokenizerError(f"{path.name} is not valid JSON: {error}") from None


def _content(token: Any) -> str:
    """A special token as transformers keeps it in its config: a string, or an added token's dict."""
    return token.get("content", "") if isinstance(token, dict) else str(token)
