"""Form specs and data rows: what is accepted, and the errors for what is not (no display needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.forms.form import FormError, FormSpec, load_rows

SPEC = """
window: "^Sign up$"
fields:
  - {label: "Full name", value: "{name}"}
  - {label: "Birthday", kind: date, value: "{birthday}", format: "%d.%m.%Y"}
  - {label: "Newsletter", kind: checkbox, value: "{news}"}
  - {label: "Password", kind: password, value: "{password}"}
  - {kind: keys, value: "ctrl+s"}
submit: {label: "Save"}
after_submit: {expect_text: "Saved"}
"""


def spec_file(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "form.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_spec_reads_with_defaults_and_the_columns_it_uses(tmp_path: Path) -> None:
    spec = FormSpec.load(spec_file(tmp_path))
    assert spec.columns() == {"name", "birthday", "news", "password"}
    assert spec.submit is not None and spec.submit.confirm is True
    assert spec.fields[0].kind == "text" and spec.fields[0].side == "auto"
    assert spec.fields[4].name == "keys ctrl+s"


@pytest.mark.parametrize(("text", "message"), [
    ("window: [unclosed", "not valid YAML"),
    ("- just a list", "must be a mapping"),
    ('window: "x"\nfields: []', "fields: List should have at least 1 item"),
    ('window: "x"\nfields: [{label: "A", kind: slider}]', "fields.0.kind"),
    ('window: "x"\nfields: [{kind: text, value: "a"}]', "needs the label"),
    ('window: "x"\nfields: [{kind: keys, value: "ctrl+nokey"}]', "unknown key"),
    ('window: "x"\nfields: [{label: "A", value: "{name"}]', "broken placeholder"),
    ('window: "x"\nfields: [{label: "A", colour: red}]', "fields.0.colour: Extra inputs"),
])
def test_a_bad_spec_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormError, match=message):
        FormSpec.load(spec_file(tmp_path, text))


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FormError, match="cannot read the form spec .*nothing.yaml"):
        FormSpec.load(tmp_path / "nothing.yaml")


def test_csv_rows_keep_multi_line_cells_and_values_are_rendered(tmp_path: Path) -> None:
    spec = FormSpec.load(spec_file(tmp_path))
    data = tmp_path / "people.csv"
    data.write_text('name,birthday,news,password\n"Ada {Countess}",1815-12-10,Yes,pw1\nGrace,09.12.1906,,pw2\n',
                    encoding="utf-8")
    rows = load_rows(spec, data)
    assert [spec.fields[0].text(r) for r in rows] == ["Ada {Countess}", "Grace"]  # braces in data stay as they are
    assert [spec.fields[1].text(r) for r in rows] == ["10.12.1815", "09.12.1906"]  # ISO, or already in the format
    assert [spec.fields[2].text(r) for r in rows] == ["yes", "no"]
    assert spec.secrets(rows[0]) == ["pw1"]


def test_json_lines_and_inline_rows(tmp_path: Path) -> None:
    spec = FormSpec.load(spec_file(tmp_path, SPEC + 'rows:\n  - {name: Ada, birthday: "2000-01-02", news: true, '
                                   'password: x}\n'))
    assert load_rows(spec, None)[0] == {"name": "Ada", "birthday": "2000-01-02", "news": "yes", "password": "x"}
    data = tmp_path / "people.jsonl"
    data.write_text('{"name": "Zoë", "birthday": "2001-02-03", "news": 0, "password": null}\n\n', encoding="utf-8")
    assert load_rows(spec, data) == [{"name": "Zoë", "birthday": "2001-02-03", "news": "0", "password": ""}]


@pytest.mark.parametrize(("content", "suffix", "message"), [
    ("name,birthday,news\nAda,2000-01-01,yes\n", ".csv",
     r"row 1: no column 'password' in the data \(it has: name, birthday, news\)"),
    ("name,birthday,news,password\nAda,01/02/2000,yes,x\n", ".csv", "row 1: '01/02/2000' is not a date"),
    ("name,birthday,news,password\nAda,2000-01-01,maybe,x\n", ".csv", "row 1: Newsletter: 'maybe' is not yes or no"),
    ("name,birthday,news,password\n", ".csv", "has no data rows"),
    ('{"name": "Ada"\n', ".jsonl", "line 1: not JSON"),
    ('["Ada"]\n', ".jsonl", "line 1: a row must be a JSON object"),
    ("name\tAda\n", ".tsv", "must be a .csv or .jsonl file"),
])
def test_bad_data_is_reported_before_anything_is_filled(tmp_path: Path, content: str, suffix: str,
                                                         message: str) -> None:
    spec = FormSpec.load(spec_file(tmp_path))
    data = tmp_path / f"data{suffix}"
    data.write_text(content, encoding="utf-8")
    with pytest.raises(FormError, match=message):
        load_rows(spec, data)
