"""The one settings object, built at the entry point and passed down.

Sources, strongest first: command-line options, ``AGENT_*`` environment variables, a TOML
config file (``--config FILE``, else ``agent.toml`` in the working directory if present),
then the defaults below. Modules never read the environment themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from safety.killswitch import DEFAULT_HOTKEY


class SettingsError(ValueError):
    """A config file or option that cannot be used; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_", extra="forbid", toml_file="agent.toml")

    backend: Literal["scripted"] = Field("scripted", description="Which model answers.")
    script: Path | None = Field(None, description="Reply file for the scripted backend.")
    max_steps: int = Field(30, ge=1)
    max_errors: int = Field(3, ge=1, description="Unusable replies or refused actions in a row before stopping.")
    confirm: Literal["ask", "allow", "deny"] | None = Field(
        None, description="Actions the policy wants confirmed: ask a person, allow, or deny. "
        "Default: ask when a terminal is attached, else deny.")
    dry_run: bool = False
    monitor: str = Field("primary", pattern=r"^(primary|active|\d+)$")
    runs_dir: Path = Path("runs")
    max_pixels: int = Field(1280 * 800, ge=32 * 32 * 4, description="Pixel budget of the screenshot the model sees.")
    history_images: int = Field(1, ge=1, description="Screenshots sent per step (the current one and earlier ones).")
    policy: Path | None = Field(None, description="A TOML file of safety rules added to the defaults.")
    sensitive_windows: list[str] = Field(default_factory=list, description="Title patterns of windows whose "
                                         "actions always need confirmation.")
    stop_hotkey: str = DEFAULT_HOTKEY
    settle_timeout: float = Field(2.0, gt=0)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def monitor_choice(self) -> int | str:
        return int(self.monitor) if self.monitor.isdigit() else self.monitor

    @property
    def confirm_mode(self) -> Literal["ask", "allow", "deny"]:
        if self.confirm is not None:
            return self.confirm
        return "ask" if sys.stdin.isatty() else "deny"


def load_settings(config_file: Path | None = None, **options: Any) -> Settings:
    """Settings from options, environment and config file, with errors a person can act on."""
    if config_file is not None and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")

    class FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=config_file or "agent.toml")

    try:
        return FromFile(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    except ValueError as error:  # e.g. a config file that is not TOML
        raise SettingsError(f"cannot read config file {config_file or 'agent.toml'}: {error}") from None
