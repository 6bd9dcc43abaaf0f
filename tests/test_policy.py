"""The safety policy, the gate that settles confirmations, and the secret heuristics. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.schema import InvalidAction, parse_action
from perception.geometry import Monitor, ScreenLayout
from perception.windows import WindowInfo
from safety.gate import Gate
from safety.policy import Decision, Policy, PolicyError, Proposal, Rule, Verdict
from safety.secrets import REDACTED, Redactor, looks_like_secret

MAIN = Monitor(1, 0, 0, 1280, 800, primary=True)
LEFT = Monitor(2, -1920, -200, 1920, 1080)
LAYOUT = ScreenLayout((MAIN, LEFT))

EDITOR = WindowInfo(title="notes.txt - Editor", app="gedit", left=0, top=0, width=800, height=600)
TERMINAL = WindowInfo(title="ada@host: ~", app="xterm", left=0, top=0, width=800, height=600)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


def key(*keys: str) -> Proposal:
    return Proposal(parse_action({"action": "key", "keys": list(keys)}), None, EDITOR)


def typing(text: str, window: WindowInfo | None = EDITOR) -> Proposal:
    return Proposal(parse_action({"action": "type", "text": text}), None, window)


def click(target: tuple[int, int], window: WindowInfo | None = EDITOR) -> Proposal:
    return Proposal(parse_action({"action": "left_click", "coordinate": [500, 500]}), target, window)


# ---- default policy: keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        ("ctrl", "alt", "delete"),
        ("Delete", "ctrl", "alt"),
        ("alt", "Control", "Del"),
        ("ctrl+alt+delete",),
        ("Ctrl+Alt+Del",),
        ("ctrl", "alt+delete"),
        ("super", "l"),
        ("cmd", "L"),
        ("win+l",),
        ("Meta", "l"),
        ("ctrl", "alt", "backspace"),
        ("ctrl", "alt", "BackSpace"),
        ("ctrl", "alt", "l"),
        ("ctrl", "alt", "F3"),
        ("alt", "SysRq", "b"),
        ("ctrl", "alt", "delete", "x"),
        ("ctrl", "alt", "shift", "delete"),
        ("super", "l", "x"),
        ("ctrl", "alt", "F1", "F2"),
    ],
)
def test_default_policy_denies_session_keys(policy, keys):
    verdict = policy.judge(key(*keys), LAYOUT)
    assert verdict.decision is Decision.DENY
    assert not verdict.allowed
    assert "key combination" in verdict.reason


@pytest.mark.parametrize(
    "keys", [("ctrl", "c"), ("ctrl", "s"), ("alt", "tab"), ("Return",), ("super",), ("l",), ("delete",),
             ("ctrl", "alt", "t"), ("alt", "Print"), ("ctrl", "shift", "delete")],
)
def test_default_policy_allows_ordinary_keys(policy, keys):
    verdict = policy.judge(key(*keys), LAYOUT)
    assert verdict == Verdict(Decision.ALLOW, "no rule objects")
    assert verdict.allowed


@pytest.mark.parametrize("keys", [("Super_L", "l"), ("ControlLeft", "alt", "delete"), ("lctrl", "alt", "backspace")])
def test_left_and_right_modifier_aliases_are_denied_too(policy, keys):
    assert policy.judge(key(*keys), LAYOUT).decision is Decision.DENY


def test_unknown_key_name_is_rejected_or_judged_not_raised(policy):
    try:
        action = parse_action({"action": "key", "keys": ["Hyper_Q"]})
    except InvalidAction:
        return  # rejected while parsing: the model gets feedback, fine
    verdict = Gate(policy, LAYOUT, "deny").check(Proposal(action, None, EDITOR))
    assert isinstance(verdict, Verdict)


# ---- default policy: text -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["Hunter2!x9", "sk-abcdefghijklmnop1234", "ghp_ABCDEF1234567890abcdEFGH1234567890",
                                  "Tr0ub4dor&3", "hunter2@home/x", "4111 1111 1111 1111"])
def test_default_policy_confirms_secret_text(policy, text):
    verdict = policy.judge(typing(text), LAYOUT)
    assert verdict.decision is Decision.CONFIRM
    assert "secret" in verdict.reason
    assert verdict.secrets and all(secret in text for secret in verdict.secrets)


@pytest.mark.parametrize(
    "text",
    ["rm -rf ~/data", "sudo shutdown -h now", "rm -r -f /tmp/x", "reboot", "DROP TABLE users;",
     "git push origin main --force", "git reset --hard HEAD~3", "dd if=/dev/zero of=/dev/sda", "mkfs.ext4 /dev/sdb1"],
)
def test_default_policy_confirms_destructive_commands_when_they_run(policy, text):
    verdict = policy.judge(typing(text + "\n", TERMINAL), LAYOUT)
    assert verdict.decision is Decision.CONFIRM
    assert "running a command" in verdict.reason


def test_a_command_is_judged_where_it_runs_not_in_prose(policy):
    assert policy.judge(typing("Please reboot the server and rm -rf the cache\n"), LAYOUT).decision is Decision.ALLOW
    assert policy.judge(typing("rm -rf ~\n", None), LAYOUT).decision is Decision.CONFIRM  # a window of unknown purpose


@pytest.mark.parametrize(
    "text", ["Zürich – 東京", "ada@example.org", "Ada Lovelace", "hello world", "rm is short for remove",
             "https://example.org/Path1?x=2", "password"],
)
def test_default_policy_allows_ordinary_text(policy, text):
    assert policy.judge(typing(text), LAYOUT).decision is Decision.ALLOW


def test_text_rules_only_look_at_type_actions(policy):
    answer = Proposal(parse_action({"action": "answer", "text": "rm -rf ~/data"}), None, None)
    assert policy.judge(answer, LAYOUT).decision is Decision.ALLOW


# ---- default policy: windows and geometry -----------------------------------------------------


@pytest.mark.parametrize("title", ["KeePassXC", "Online Banking - Firefox", "Enter password", "sudo: authenticate",
                                   "Checkout - Shop", "Überweisung - Sparkasse", "支付宝 - 付款"])
def test_default_policy_confirms_in_sensitive_windows(policy, title):
    window = WindowInfo(title=title, app="x", left=0, top=0, width=100, height=100)
    verdict = policy.judge(click((100, 100), window), LAYOUT)
    assert verdict.decision is Decision.CONFIRM
    assert "place" in verdict.reason


def test_scrolling_and_pointing_never_ask_in_sensitive_windows(policy):
    window = WindowInfo(title="Checkout - Pay now", app="x", left=0, top=0, width=100, height=100)
    for arguments in ({"action": "scroll", "pixels": -300}, {"action": "mouse_move", "coordinate": [500, 500]}):
        proposal = Proposal(parse_action(arguments), (100, 100), window)
        assert policy.judge(proposal, LAYOUT).decision is Decision.ALLOW


@pytest.mark.parametrize("target", [(1280, 100), (5000, 5000), (100, -1), (-1921, 0), (-5, 890)])
def test_points_on_no_monitor_are_denied(policy, target):
    verdict = policy.judge(click(target), LAYOUT)
    assert verdict.decision is Decision.DENY
    assert "not on any monitor" in verdict.reason


@pytest.mark.parametrize(
    "target",
    [(0, 0), (1279, 0), (0, 799), (1279, 799), (-1920, -200), (-1, -200), (-1920, 879), (-1, 879)],
)
def test_screen_corners_are_denied(policy, target):
    verdict = policy.judge(click(target), LAYOUT)
    assert verdict.decision is Decision.DENY
    assert "corner" in verdict.reason


@pytest.mark.parametrize("target", [(1, 0), (0, 1), (640, 400), (1278, 799), (-1, 0), (-1919, -200)])
def test_points_next_to_corners_are_allowed(policy, target):
    assert policy.judge(click(target), LAYOUT).decision is Decision.ALLOW


def test_geometry_wins_over_rules(policy):
    window = WindowInfo(title="KeePassXC", app="x", left=0, top=0, width=100, height=100)
    assert policy.judge(click((0, 0), window), LAYOUT).decision is Decision.DENY


def test_strictest_verdict_wins():
    rules = [
        Rule(verdict=Decision.CONFIRM, reason="typing", actions=frozenset({"type"})),
        Rule(verdict=Decision.DENY, reason="no swearing", text="darn"),
        Rule(verdict=Decision.ALLOW, reason="anything"),
    ]
    policy = Policy(rules)
    assert policy.judge(typing("hello"), LAYOUT) == Verdict(Decision.CONFIRM, "typing")
    assert policy.judge(typing("oh darn"), LAYOUT) == Verdict(Decision.DENY, "no swearing")
    assert policy.judge(click((10, 10)), LAYOUT) == Verdict(Decision.ALLOW, "no rule objects")


def test_rule_conditions_all_have_to_match():
    rule = Rule(verdict=Decision.DENY, reason="r", actions=["left_click"], window_app="^gedit$",
                region=(0, 0, 100, 100))
    assert rule.matches(click((50, 50)))
    assert not rule.matches(click((150, 50)))  # outside the region
    other_app = WindowInfo(title="t", app="xterm", left=0, top=0, width=10, height=10)
    assert not rule.matches(click((50, 50), other_app))
    assert not rule.matches(click((50, 50), None))  # no window known: a window condition cannot match
    assert not rule.matches(Proposal(parse_action({"action": "right_click", "coordinate": [1, 1]}), (50, 50), EDITOR))


def test_secret_text_false_matches_ordinary_text_only():
    rule = Rule(verdict=Decision.CONFIRM, reason="r", secret_text=False)
    assert rule.matches(typing("hello"))
    assert not rule.matches(typing("Hunter2!x9"))
    assert not rule.matches(key("ctrl", "c"))


# ---- policy files -------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_file_adds_rules(tmp_path):
    path = write(tmp_path, """
[[rules]]
verdict = "deny"
reason = "no typing into the terminal"
actions = ["type"]
window_app = "xterm"

[[rules]]
verdict = "confirm"
reason = "the payroll area"
region = [100, 100, 200, 50]
""")
    default_count = len(Policy.load().rules)
    policy = Policy.load(path)
    assert len(policy.rules) == default_count + 2
    terminal = WindowInfo(title="bash", app="xterm", left=0, top=0, width=10, height=10)
    assert policy.judge(typing("ls", terminal), LAYOUT) == Verdict(Decision.DENY, "no typing into the terminal")
    assert policy.judge(typing("ls"), LAYOUT).decision is Decision.ALLOW
    assert policy.judge(click((150, 120)), LAYOUT) == Verdict(Decision.CONFIRM, "the payroll area")
    assert policy.judge(click((300, 120)), LAYOUT).decision is Decision.ALLOW
    # the defaults still apply
    assert policy.judge(key("ctrl", "alt", "delete"), LAYOUT).decision is Decision.DENY


def test_include_defaults_false_replaces_them(tmp_path):
    path = write(tmp_path, """
include_defaults = false

[[rules]]
verdict = "confirm"
reason = "every key"
actions = ["key"]
""")
    policy = Policy.load(path)
    assert len(policy.rules) == 1
    assert policy.judge(key("ctrl", "alt", "delete"), LAYOUT) == Verdict(Decision.CONFIRM, "every key")
    # geometry and the built-in readers (secrets, commands, places) are not rules: they apply regardless
    assert policy.judge(click((0, 0)), LAYOUT).decision is Decision.DENY
    assert policy.judge(typing("Hunter2!x9"), LAYOUT).decision is Decision.CONFIRM


def test_empty_policy_file_keeps_the_defaults(tmp_path):
    assert len(Policy.load(write(tmp_path, "")).rules) == len(Policy.load().rules)


def test_bad_toml_names_the_file(tmp_path):
    path = write(tmp_path, "[[rules]\nverdict = deny\n", "broken.toml")
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    assert str(path) in str(error.value)
    assert "not valid TOML" in str(error.value)


def test_unknown_condition_names_file_rule_and_key(tmp_path):
    path = write(tmp_path, """
[[rules]]
verdict = "deny"
reason = "fine"
actions = ["type"]

[[rules]]
verdict = "deny"
reason = "typo"
window_tittle = "Bank"
""")
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}, rule 2: ")
    assert "window_tittle" in message


def test_bad_verdict_names_file_and_rule(tmp_path):
    path = write(tmp_path, '[[rules]]\nverdict = "maybe"\nreason = "x"\nactions = ["type"]\n')
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    message = str(error.value)
    assert message.startswith(f"{path}, rule 1: verdict:")
    assert "'allow', 'confirm' or 'deny'" in message


@pytest.mark.parametrize(
    "body, words",
    [
        ('verdict = "deny"\nreason = "x"\nkeys = ["ctrl+banana"]', ["rule 1", "keys", "banana"]),
        ('verdict = "deny"\nreason = "x"\ntext = "(unclosed"', ["rule 1", "text"]),
        ('verdict = "deny"\nkeys = ["ctrl+q"]', ["rule 1", "reason", "Field required"]),
        ('verdict = "deny"\nreason = "x"\nregion = [1, 2, 3]', ["rule 1", "region"]),
    ],
)
def test_malformed_rules(tmp_path, body, words):
    path = write(tmp_path, "[[rules]]\n" + body + "\n")
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    assert str(path) in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, 'include_default = false\n')
    with pytest.raises(PolicyError, match="unknown top-level keys.*include_default"):
        Policy.load(path)


def test_missing_policy_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    assert f"cannot read policy file {path}" in str(error.value)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


# ---- marked sensitive ---------------------------------------------------------------------


def test_mark_sensitive_window():
    policy = Policy.load()
    payroll = WindowInfo(title="Payroll - LibreOffice Calc", app="soffice", left=0, top=0, width=800, height=600)
    assert policy.judge(typing("1200", payroll), LAYOUT).decision is Decision.ALLOW
    policy.mark_sensitive(window_title="Payroll")
    for proposal in (typing("1200", payroll), click((100, 100), payroll), Proposal(key("ctrl", "s").action, None, payroll)):
        verdict = policy.judge(proposal, LAYOUT)
        assert verdict.decision is Decision.CONFIRM
        assert "'Payroll'" in verdict.reason and "sensitive" in verdict.reason
    assert policy.judge(typing("1200"), LAYOUT).decision is Decision.ALLOW  # other windows unaffected
    assert policy.judge(typing("1200", None), LAYOUT).decision is Decision.ALLOW


def test_mark_sensitive_region():
    policy = Policy.load()
    policy.mark_sensitive(region=(-1920, -200, 1920, 1080))
    verdict = policy.judge(click((-500, 300)), LAYOUT)
    assert verdict.decision is Decision.CONFIRM
    assert "region" in verdict.reason
    assert policy.judge(click((500, 300)), LAYOUT).decision is Decision.ALLOW
    assert policy.judge(typing("hi"), LAYOUT).decision is Decision.ALLOW  # no target: not in the region


def test_mark_sensitive_bad_pattern():
    with pytest.raises(PolicyError, match="cannot mark window '\\(oops' sensitive"):
        Policy.load().mark_sensitive(window_title="(oops")


# ---- the gate -----------------------------------------------------------------------------


class Asker:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[Proposal, Verdict]] = []

    def __call__(self, proposal: Proposal, verdict: Verdict) -> bool:
        self.asked.append((proposal, verdict))
        return self.answer


SECRET = typing("Hunter2!x9")


def test_gate_allow_mode_approves_confirmations(policy):
    verdict = Gate(policy, LAYOUT, "allow").check(SECRET)
    assert verdict.decision is Decision.ALLOW and verdict.allowed
    assert verdict.asked is False
    assert "secret" in verdict.reason and "--confirm allow" in verdict.reason


def test_gate_deny_mode_refuses_confirmations(policy):
    verdict = Gate(policy, LAYOUT, "deny").check(SECRET)
    assert verdict.decision is Decision.DENY
    assert verdict.asked is False
    assert "secret" in verdict.reason and "approval" in verdict.reason


@pytest.mark.parametrize("answer, decision", [(True, Decision.ALLOW), (False, Decision.DENY)])
def test_gate_ask_mode_asks_a_person(policy, answer, decision):
    asker = Asker(answer)
    verdict = Gate(policy, LAYOUT, "ask", asker).check(SECRET)
    assert verdict.decision is decision
    assert verdict.asked is True
    assert len(asker.asked) == 1
    proposal, policy_verdict = asker.asked[0]
    assert proposal is SECRET
    assert policy_verdict.decision is Decision.CONFIRM
    assert ("approved" if answer else "declined") in verdict.reason


@pytest.mark.parametrize("mode", ["allow", "deny", "ask"])
def test_gate_passes_allow_and_deny_through_without_asking(policy, mode):
    asker = Asker(True)
    gate = Gate(policy, LAYOUT, mode, asker)
    denied = gate.check(key("ctrl", "alt", "delete"))
    assert denied.decision is Decision.DENY and denied.asked is False
    allowed = gate.check(typing("hello"))
    assert allowed == Verdict(Decision.ALLOW, "no rule objects")
    corner = gate.check(click((0, 0)))
    assert corner.decision is Decision.DENY
    assert asker.asked == []


def test_gate_ask_needs_an_asker(policy):
    with pytest.raises(ValueError, match="ask"):
        Gate(policy, LAYOUT, "ask")


# ---- proposals -----------------------------------------------------------------------------


def test_proposal_describe():
    assert typing("hello").describe() == "type 'hello' in \"notes.txt - Editor\""
    assert click((10, 20), None).describe() == "left click at (10, 20)"
    assert key("ctrl", "s").describe().startswith("key keys=['ctrl', 's']")


# ---- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Hunter2!x9", "  Hunter2!x9  ", "p4ss_w0rd!", "sk-abcdefghijklmnop1234", "hunter2@home/x",
     "ghp_ABCDEF1234567890abcdEFGH1234567890", "AKIAIOSFODNN7EXAMPLE", "glpat-abcdefgh12345678wxyz",
     "DE89370400440532013000", "123-45-6789", "password: hunter2", "mysql -u root -pS3cret!",
     "https://bob:s3cr3tpw@example.com/x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fw"],
)
def test_looks_like_secret(text):
    assert looks_like_secret(text)


@pytest.mark.parametrize(
    "text",
    ["hello", "Hunt2!", "password", "PASSWORD1", "Ada Lovelace", "ada@example.org", "Zürich – 東京",
     "https://Example.org/x1", "", "A1!" + "a" * 130, "2024-01-02", "=SUM(A2:A6)", "correctHorse9",
     "=VLOOKUP(B2,Sheet2.A1:C9,3)", "INV-2024-0042", "Quarterly_Report-2024.xlsx", "getUserById2", "iPhone15Pro",
     "550e8400-e29b-41d4-a716-446655440000", "1234 5678 9012 3456", "token=$TOKEN"],
)
def test_does_not_look_like_secret(text):
    assert not looks_like_secret(text)


def test_redactor():
    redact = Redactor(["Hunter2!x9", ""])
    redact.add("sk-abcdefghijklmnop")
    redact.add("")
    text = "typed Hunter2!x9 then sk-abcdefghijklmnop and Hunter2!x9"
    assert redact(text) == f"typed {REDACTED} then {REDACTED} and {REDACTED}"
    assert redact("nothing secret") == "nothing secret"
    assert Redactor()("") == ""


def test_redactor_replaces_longer_secrets_first():
    redact = Redactor(["abc12345", "abc12345XYZ!"])
    assert redact("pw: abc12345XYZ!") == f"pw: {REDACTED}"
