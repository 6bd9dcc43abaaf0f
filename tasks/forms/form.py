"""A form description and the data rows to fill it with (``run_agent.py fill SPEC --data ROWS``).

The spec is a small YAML file::

    window: "Sign up"                     # a regular expression for the window title
    fields:
      - {label: "Full name", value: "{name}"}
      - {label: "Password", kind: password, value: "{password}"}
      - {label: "Country", kind: select, value: "{country}"}
      - {label: "Plan", kind: radio, value: "{plan}"}          # the option whose text is the value
      - {label: "Contact by", kind: select, value: "{contact}",
         options: {email: "E-mail", phone: "Telephone"}}       # data values shown as other text
      - {label: "Birthday", kind: date, value: "{birthday}", format: "%d.%m.%Y"}
      - {label: "Notes", kind: multiline, value: "{notes}"}
      - {label: "Send me the newsletter", kind: checkbox, value: "{subscribe}"}
      - {kind: keys, value: "tab"}                              # keys for anything else
    submit: {label: "Save", confirm: true}
    after_submit: {expect_text: "Saved"}

``{column}`` takes a column of the data row (``{{`` and ``}}`` are literal braces). Rows come
from a CSV file (first line: the column names), a JSON-lines file (one object per line), or
``rows:`` in the spec itself; without data the spec's values are filled in once. A date is given
as YYYY-MM-DD (or already in the field's ``format``) and typed in ``format``; a check box takes
yes/no, true/false, 1/0, on/off, x or an empty cell.
"""

from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from errors import BadInput
from actions.keys import key_combo
from actions.schema import InvalidAction
from perception.controls import Side
from tasks.rows import RowsError, cell, read_rows

Kind = Literal["text", "multiline", "password", "checkbox", "radio", "select", "date", "keys"]
TRUE, FALSE = {"yes", "y", "true", "1", "on", "x", "checked"}, {"no", "n", "false", "0", "off", "", "unchecked"}


class FormError(BadInput):
    """A spec or data file that cannot be used, or a row the spec cannot be filled from."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormField(_Strict):
    """One thing to fill in (or, for ``keys``, keys to press)."""

    label: str | None = Field(None, description="the text next to the control (a check box's own text)")
    kind: Kind = "text"
    value: str = Field("", description="what to fill in, with {column} placeholders; for keys: e.g. 'tab', 'ctrl+s'")
    format: str = Field("%Y-%m-%d", description="date: how the field wants it written (strftime)")
    side: Side = Field("auto", description="where the control is from its label: right, below, or auto")
    options: dict[str, str] = Field(default_factory=dict, description="radio, select: the option text shown for a "
                                                                       "data value, where the two differ")

    @model_validator(mode="after")
    def _complete(self) -> FormField:
        if self.kind == "keys":
            try:
                key_combo([self.value]) if self.value else None
            except InvalidAction as error:
                raise ValueError(f"keys {self.value!r}: {error}") from None
            if not self.value:
                raise ValueError("a keys step needs the keys as its value, e.g. value: tab")
        if self.options and self.kind not in ("radio", "select"):
            raise ValueError(f"options: maps data values to a list's or a choice's options, not a {self.kind}'s")
        if not self.label and self.kind != "keys":
            raise ValueError(f"a {self.kind} field needs the label shown next to it")
        return self

    @property
    def name(self) -> str:
        return self.label if self.label else f"keys {self.value}"

    def text(self, row: dict[str, str]) -> str:
        """The value for ``row``, ready to type or choose (a date in its format, a check box as yes/no)."""
        value = render(self.value, row)
        if self.kind == "date":
            return _date(value, self.format)
        if self.kind == "checkbox":
            word = value.strip().casefold()
            if word not in TRUE | FALSE:
                raise FormError(f"{self.name}: {value!r} is not yes or no (a check box takes yes/no, true/false, "
                                "1/0, on/off, x or nothing)")
            return "yes" if word in TRUE else "no"
        if self.options:
            mapped = {k.casefold(): v for k, v in self.options.items()}
            return self.options.get(value, mapped.get(value.strip().casefold(), value))
        return value


class Submit(_Strict):
    label: str
    confirm: bool = Field(True, description="ask a person before clicking it (settled by --confirm)")


class AfterSubmit(_Strict):
    expect_text: str = Field(description="text the window shows once a row went through")
    timeout: float = Field(5.0, gt=0, description="seconds to wait for it")


class FormSpec(_Strict):
    window: str = Field(description="a regular expression that the form window's title matches")
    fields: list[FormField] = Field(min_length=1)
    submit: Submit | None = None
    after_submit: AfterSubmit | None = None
    rows: list[dict[str, str | int | float | bool | None]] | None = Field(None, description="inline data rows")

    @classmethod
    def load(cls, path: Path) -> FormSpec:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise FormError(f"cannot read the form spec {path}: {error.strerror or error}") from None
        except yaml.YAMLError as error:
            raise FormError(f"{path} is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise FormError(f"{path} must be a mapping with window: and fields:, not {type(data).__name__}")
        try:
            spec = cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors())
            raise FormError(f"{path}: {problems}") from None
        for field in spec.fields:
            columns(field.value)  # a malformed placeholder is an error now, not in row 7
        return spec

    def columns(self) -> set[str]:
        """The data columns the spec's values use."""
        return {name for field in self.fields for name in columns(field.value)}

    def secrets(self, row: dict[str, str]) -> list[str]:
        """The row's password values: never logged, never written."""
        return [v for f in self.fields if f.kind == "password" and (v := render(f.value, row))]


def columns(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise FormError(f"the value {template!r} has a broken placeholder ({error}); write {{{{ for a brace") from None


def render(template: str, row: dict[str, str]) -> str:
    missing = [name for name in columns(template) if name not in row]
    if missing:
        raise FormError(f"no column {', '.join(map(repr, missing))} in the data (it has: {', '.join(row) or 'none'})")
    return string.Formatter().vformat(template, (), row)


def load_rows(spec: FormSpec, data: Path | None) -> list[dict[str, str]]:
    """The data rows: from ``data`` (CSV or JSON lines), else the spec's ``rows:``, else one empty row.

    Every row is checked against the spec before anything is filled."""
    if data is not None:
        data = Path(data)
        if data.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
            raise FormError(f"{data}: data must be a .csv or .jsonl file")
        try:
            rows = read_rows(data)
        except RowsError as error:
            raise FormError(str(error)) from None
        where = str(data)
    else:
        rows = [{k: cell(v) for k, v in row.items()} for row in spec.rows or [{}]]
        where = "the spec's rows"
    if not rows:
        raise FormError(f"{where} has no data rows")
    for number, row in enumerate(rows, start=1):
        try:
            for field in spec.fields:
                field.text(row)
        except FormError as error:
            raise FormError(f"{where}, row {number}: {error}") from None
    return rows


def _date(value: str, form_format: str) -> str:
    if not value:
        return ""
    for given in ("%Y-%m-%d", form_format):
        try:
            return datetime.strptime(value, given).strftime(form_format)
        except ValueError:
            continue
    raise FormError(f"{value!r} is not a date: write it as YYYY-MM-DD")
