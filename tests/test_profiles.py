"""Prompt profiles: the default speaks to Qwen3-VL exactly as Qwen's cookbook does; the GUI fine-tunes'
profiles are read in the formats their own repositories document."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from agent.model import ModelReply, Sampling
from agent.profiles import load_profile, profile_names
from agent.prompt import PromptBuilder, point_question, system_prompt
from agent.reply import ReplyError, parse_reply
from agent.task import Budget, Outcome, Step, TaskState
from actions.schema import parse_action
from perception.geometry import Monitor
from perception.screen import Screenshot

# Derived from the official sources by running their own text-building steps on their own data:
# QwenLM/Qwen3-VL cookbooks/utils/agent_function_call.py at 96588727 (ComputerUse with
# display_width_px = display_height_px = 1000, as cookbooks/computer_use.ipynb builds it, and
# BaseTool.function = name, description, parameters) put through Qwen-Agent's NousFnCallPrompt
# (qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py at 31a4d36d: the system text
# "You are a helpful assistant." plus "\n\n" plus FN_CALL_TEMPLATE with json.dumps(tool,
# ensure_ascii=False)). The cookbook sends that system message as two text parts, which the chat
# template joins into exactly this text.
COOKBOOK = (Path(__file__).parent / "prompt_fixtures" / "qwen3vl_cookbook_system.txt").read_text(encoding="utf-8")


def shot() -> Screenshot:
    image = Image.new("RGB", (320, 200), "white")
    return Screenshot(capture=image, image=image, monitor=Monitor(1, 0, 0, 320, 200, primary=True), window=None)


def test_the_default_system_prompt_is_the_cookbooks_byte_for_byte():
    assert system_prompt() == COOKBOOK
    assert COOKBOOK.startswith("You are a helpful assistant.\n\n# Tools\n") and "resolution is 1000x1000." in COOKBOOK


def test_the_default_step_puts_the_screenshot_first_and_numbers_earlier_steps():
    task = TaskState("Save the file", Budget())
    task.record(Step(index=1, screenshot=shot(), action=parse_action({"action": "key", "keys": ["ctrl", "s"]}),
                     outcome=Outcome.DONE, detail="pressed"))
    request = PromptBuilder(Sampling()).request(task, shot())
    system, user = request.messages
    assert system.text == COOKBOOK
    assert isinstance(user.content[0], Image.Image) and isinstance(user.content[1], str)
    assert user.content[1] == ("Please generate the next move according to the UI screenshot, instruction and previous "
                               "actions.\n\nInstruction: Save the file\n\nPrevious actions:\n"
                               "Step 1: key keys=['ctrl', 's'] -> done: pressed")


def test_a_first_step_has_no_previous_actions():
    text = PromptBuilder(Sampling()).request(TaskState("t", Budget()), shot()).messages[1].text
    assert text.endswith("Previous actions:\nNone")


def test_every_profile_loads_and_names_its_sources():
    assert set(profile_names()) >= {"qwen3-vl", "agent-rules", "gui-owl-1.5", "ui-venus-1.5"}
    for name in profile_names():
        profile = load_profile(name)
        assert profile.sources and profile.system and "{tools}" not in profile.system


# ---- GUI-Owl 1.5 (X-PLUG/MobileAgent, Mobile-Agent-v3.5/computer_use) ----------------------------

OWL = load_profile("gui-owl-1.5")


def test_gui_owl_gets_its_own_system_prompt_and_text_before_the_screenshot():
    user = PromptBuilder(Sampling(), profile=OWL).request(TaskState("t", Budget()), shot()).messages[1]
    assert isinstance(user.content[0], str) and isinstance(user.content[1], Image.Image)
    assert OWL.system.startswith("# Tools\n") and OWL.system.endswith("- If finishing, use action=terminate in the "
                                                                      "tool call.")
    assert '"interact"]' in OWL.system  # its action list as published, with interact


def test_gui_owl_reply_in_its_documented_format():
    # the format its SYSTEM_PROMPT asks for: "Action: ..." then one <tool_call> block
    text = ('Action: Click the Save button in the toolbar.\n<tool_call>\n{"name": "computer_use", "arguments": '
            '{"action": "left_click", "coordinate": [412, 88]}}\n</tool_call>')
    decision = parse_reply(ModelReply(text), OWL)
    assert decision.action.arguments() == {"action": "left_click", "coordinate": [412.0, 88.0]}
    assert decision.thought == "Action: Click the Save button in the toolbar."


def test_gui_owl_interact_ends_the_run_telling_the_person():
    text = ('Action: Ask the user to sign in.\n<tool_call>\n{"name": "computer_use", "arguments": '
            '{"action": "interact", "text": "Please sign in, then continue."}}\n</tool_call>')
    assert parse_reply(ModelReply(text), OWL).action.arguments() == {"action": "answer",
                                                                     "text": "Please sign in, then continue."}


# ---- UI-Venus 1.5 (inclusionAI/UI-Venus, models/navigation) --------------------------------------

VENUS = load_profile("ui-venus-1.5")


def venus(action: str) -> ModelReply:
    return ModelReply(f"<think>The toolbar is at the top.</think>\n<action>{action}</action>\n"
                      "<conclusion>Next action chosen.</conclusion>")


@pytest.mark.parametrize(("action", "ours"), [
    ("Click(box=(412,88))", {"action": "left_click", "coordinate": [412.0, 88.0]}),
    ("Click(box=(412, 88))", {"action": "left_click", "coordinate": [412.0, 88.0]}),
    ("DoubleClick(box=(10,20))", {"action": "double_click", "coordinate": [10.0, 20.0]}),
    ("Hover(box=(500,500))", {"action": "mouse_move", "coordinate": [500.0, 500.0]}),
    ("Type(content='Zürich, it\\'s 東京')", {"action": "type", "text": "Zürich, it's 東京"}),
    ("Hotkey(keys=['ctrl', 'c'])", {"action": "key", "keys": ["ctrl", "c"]}),
    ("PressEnter()", {"action": "key", "keys": ["enter"]}),
    ("Scroll(direction='down')", {"action": "scroll", "pixels": -500}),
    ("Scroll(direction='up')", {"action": "scroll", "pixels": 500}),
    ("Wait()", {"action": "wait", "time": 2.0}),
    ("Finished(content='')", {"action": "terminate", "status": "success"}),
    ("CallUser(content='The total is 42.')", {"action": "answer", "text": "The total is 42."}),
])
def test_ui_venus_actions_map_onto_ours(action, ours):
    decision = parse_reply(venus(action), VENUS)
    assert decision.action.arguments() == ours
    assert decision.thought == "The toolbar is at the top."


@pytest.mark.parametrize(("action", "problem"), [
    ("Launch(app='Files')", "cannot be done on this desktop"),
    ("Drag(start=(1,2), end=(3,4))", "cannot be done on this desktop"),
    ("Click(box=(1200,5))", "coordinate"),
    ("Click(box=__import__('os'))", "not quoted strings"),
    ("click the button", "not a call"),
])
def test_ui_venus_mistakes_are_told_to_the_model(action, problem):
    with pytest.raises(ReplyError, match=problem):
        parse_reply(venus(action), VENUS)


def test_ui_venus_gets_its_query_before_the_screenshot_and_its_grounding_prompt():
    user = PromptBuilder(Sampling(), profile=VENUS).request(TaskState("Open settings", Budget()), shot()).messages[1]
    assert isinstance(user.content[0], str) and "### User Task\nOpen settings\n" in user.content[0]
    assert point_question("the Save button.", "ui-venus-1.5") == (
        "Output the center point of the position corresponding to the following instruction: \nthe Save button. "
        "\n\nThe output should just be the coordinates of a point, in the format [x,y].")


def test_ui_venus_cut_off_before_its_action_ended():
    with pytest.raises(ReplyError, match="cut off"):
        parse_reply(ModelReply("<think>long</think><action>Click(box=(1", finish_reason="length"), VENUS)
