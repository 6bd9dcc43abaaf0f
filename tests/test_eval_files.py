"""Files that tasks download (setup step ``download``, getter ``cloud_file``) through the cache of ``eval --files``:
fetched from a real HTTP server on loopback on first use, read from the cache once the server is gone, and a
clear word for a URL that cannot be had. Also the stand-ins for files that cannot be fetched."""

from __future__ import annotations

import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from evaluation.files import FileCache, MissingFile
from evaluation.stand_ins import make_stand_ins
from test_eval_suite import evaluation


@pytest.fixture
def server(tmp_path: Path):
    """A static HTTP server on 127.0.0.1 serving ``tmp_path / "served"``; its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


def download_task(base: str, name: str = "notes.txt") -> dict:
    """Downloads a note to the Desktop, and judges it against the expected note from another URL."""
    return {"id": f"download-{name}", "instruction": "Do nothing",
            "config": [{"type": "download", "parameters": {"files": [{"url": f"{base}/{name}?export=download",
                                                                       "path": "/home/user/Desktop/notes.txt"}]}}],
            "evaluator": {"func": "compare_text_file",
                          "result": {"type": "vm_file", "path": "/home/user/Desktop/notes.txt", "dest": "notes.txt"},
                          "expected": {"type": "cloud_file", "path": f"{base}/gold.txt", "dest": "gold.txt"}}}


def test_downloads_are_fetched_once_then_read_offline(tmp_path: Path, server) -> None:
    httpd, base, served = server
    (served / "notes.txt").write_text("buy milk\n")
    (served / "gold.txt").write_text("buy milk\n")
    suite = tmp_path / "suite" / "os"
    suite.mkdir(parents=True)
    (suite / "t.json").write_text(json.dumps(download_task(base)))
    files = tmp_path / "files"
    _, (record,), _ = evaluation(tmp_path / "runs", str(suite.parent), "--do-nothing", "--files", str(files))
    assert record["score"] == 1.0, record
    url = f"{base}/notes.txt?export=download"
    cached = files / hashlib.sha256(url.encode()).hexdigest()
    assert cached.read_text() == "buy milk\n" and sorted(p.name for p in files.iterdir()) == sorted(
        hashlib.sha256(u.encode()).hexdigest() for u in (url, f"{base}/gold.txt"))

    httpd.shutdown()  # offline from now on: the cache alone serves
    httpd.server_close()
    cached.write_text("buy bread\n")  # what the cache holds is what the task gets
    _, (record,), _ = evaluation(tmp_path / "runs", str(suite.parent), "--do-nothing", "--files", str(files))
    assert record["score"] == 0.0 and record["status"] == "success", record


def test_a_url_that_cannot_be_had_is_named(tmp_path: Path, server) -> None:
    _, base, served = server
    (served / "gold.txt").write_text("x\n")
    suite = tmp_path / "suite" / "os"
    suite.mkdir(parents=True)
    (suite / "t.json").write_text(json.dumps(download_task(base, "gone.txt")))
    _, (record,), _ = evaluation(tmp_path / "runs", str(suite.parent), "--do-nothing", "--files", str(tmp_path / "f"))
    assert (record["score"], record["status"]) == (None, "missing_file")
    assert f"{base}/gone.txt?export=download" in record["reason"] and "404" in record["reason"]
    assert list((tmp_path / "f").iterdir()) == []  # no half-written file under the URL's name

    _, (record,), _ = evaluation(tmp_path / "runs", str(suite.parent), "--do-nothing")
    assert record["status"] == "missing_file" and "--files DIR" in record["reason"]
    with pytest.raises(MissingFile, match="gone.txt"):
        FileCache(tmp_path / "f").get(f"{base}/gone.txt?export=download")


def test_stand_ins_have_the_type_the_task_names(tmp_path: Path) -> None:
    suite = tmp_path / "suite" / "calc"
    suite.mkdir(parents=True)
    files = {"Sales.xlsx": "https://example.com/a", "photo.jpg": "https://example.com/b",
             "eval.sh": "https://example.com/c", "slides.pptx": "https://example.com/d"}
    task = {"id": "t", "instruction": "x", "config": [{"type": "download", "parameters": {"files": [
        {"url": url, "path": f"/home/user/{name}"} for name, url in files.items()]}}]}
    (suite / "t.json").write_text(json.dumps(task))
    cache = FileCache(tmp_path / "files")
    cache.path(files["eval.sh"]).parent.mkdir()
    cache.path(files["eval.sh"]).write_text("echo real\n")  # a file already there is kept
    assert make_stand_ins(suite.parent, cache) == (2, ["slides.pptx"])
    with open(cache.path(files["Sales.xlsx"]), "rb") as book:  # cached under a name without an extension
        assert openpyxl.load_workbook(book).sheetnames == ["Sheet1"]
    assert Image.open(cache.path(files["photo.jpg"])).format == "JPEG"
    assert cache.path(files["eval.sh"]).read_text() == "echo real\n"
