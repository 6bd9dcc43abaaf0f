"""The page asks for step pictures while a run writes them: it gets a whole picture or a 404, never part of one."""

from __future__ import annotations

import io
import threading
import time

import requests
from PIL import Image

from actions.schema import parse_action
from agent.backends.scripted import ScriptedBackend
from agent.settings import Settings
from agent.task import Outcome, Step
from agent.trajectory import Trajectory
from perception.screen import Screen
from safety.secrets import Redactor
from tests.webui_server import RunningServer
from webui.app import create_app

STEPS = 40


def test_pictures_are_served_whole_or_not_at_all_while_a_run_writes(desktop, tmp_path):
    runs = tmp_path / "runs"
    shot = Screen().capture()
    trajectory = Trajectory(runs, "write steps while the page looks", Redactor(), {})
    run_id = trajectory.folder.name

    def write() -> None:
        for index in range(1, STEPS + 1):
            action = parse_action({"action": "left_click", "coordinate": [100 + index, 500]})
            trajectory.on_step(Step(index=index, screenshot=shot, action=action, outcome=Outcome.DONE))
        trajectory.finish({"status": "success", "steps": STEPS})

    with RunningServer(create_app(Settings(runs_dir=runs), model=ScriptedBackend([]))) as server:
        writer = threading.Thread(target=write)
        writer.start()
        served, missing, asked = 0, 0, 1
        deadline = time.monotonic() + 60
        while writer.is_alive() or asked <= STEPS:
            assert time.monotonic() < deadline, f"step {asked}'s picture was never served"
            # the picture of the newest step the page could know of, and of the one being written
            for name in (f"step-{asked:03d}-action.png", f"step-{asked:03d}.png", f"step-{asked + 1:03d}.png"):
                response = requests.get(f"{server.url}/api/runs/{run_id}/files/{name}", timeout=10)
                if response.status_code == 404:
                    missing += 1
                    continue
                assert response.status_code == 200, response.text
                assert response.headers["content-type"] == "image/png"
                assert int(response.headers["content-length"]) == len(response.content) > 0
                with Image.open(io.BytesIO(response.content)) as picture:
                    picture.load()
                served += 1
                if name.endswith("-action.png"):
                    asked += 1
        writer.join()
        assert served >= STEPS and missing > 0  # some were asked for before they were written

        # what the records do not name is not served, even where a file of that name lies in the folder
        (trajectory.folder / "step-999.png").write_bytes((trajectory.folder / "step-001.png").read_bytes())
        for name in ("step-999.png", ".step-001.png.tmp", "steps.jsonl", "..%2Frun.json"):
            assert requests.get(f"{server.url}/api/runs/{run_id}/files/{name}", timeout=10).status_code == 404, name
        state = requests.get(f"{server.url}/api/runs/{run_id}", timeout=10).json()
        assert [s["picture"] for s in state["steps"]][:2] == [f"/api/runs/{run_id}/files/step-001-action.png",
                                                              f"/api/runs/{run_id}/files/step-002-action.png"]
