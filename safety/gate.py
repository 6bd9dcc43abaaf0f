"""The one checkpoint every action passes before the executor.

The policy judges; a ``confirm`` verdict is then settled by the confirmation mode:
``allow`` approves it, ``deny`` refuses it (the default without a terminal), ``ask`` puts
the question to a person (a terminal prompt, or the web UI's buttons) and waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from actions.schema import INPUT_ACTIONS
from perception.geometry import ScreenLayout
from safety.composer import Composer
from safety.policy import Decision, Policy, Proposal, Verdict

ConfirmMode = Literal["ask", "allow", "deny"]
Asker = Callable[[Proposal, Verdict], bool]
"""Shows a person the proposal and the policy's reason; True when the person approves."""


class Gate:
    """Judges each proposal: the policy's verdict, with confirmations settled.

    The gate lives as long as a run: it follows the text its allowed actions type (a command
    composed over several actions is judged whole when it would run)."""

    def __init__(self, policy: Policy, layout: ScreenLayout, mode: ConfirmMode, ask: Asker | None = None) -> None:
        if mode == "ask" and ask is None:
            raise ValueError("confirmation mode 'ask' needs a way to ask a person")
        self.policy = policy
        self.layout = layout
        self.mode = mode
        self._ask = ask
        self.composer = Composer()

    def check(self, proposal: Proposal) -> Verdict:
        if proposal.action.action not in INPUT_ACTIONS:
            return Verdict(Decision.ALLOW, "sends no input")
        verdict = self.policy.judge(proposal, self.layout, self.composer)
        if verdict.decision is Decision.CONFIRM:
            verdict = self._settle(proposal, verdict)
        return self._took(proposal, verdict)

    def confirm(self, proposal: Proposal, reason: str, person_only: bool = False) -> Verdict:
        """Like :meth:`check`, for an action that needs a person's approval whatever the rules allow
        (a form's submit button); what the rules deny stays denied. With ``person_only`` nothing but
        a person's yes approves it, not ``--confirm allow`` (a replay's guess at a target)."""
        verdict = self.policy.judge(proposal, self.layout, self.composer)
        if verdict.decision is not Decision.DENY:
            verdict = self._settle(proposal, Verdict(Decision.CONFIRM, reason, secrets=verdict.secrets), person_only)
        return self._took(proposal, verdict)

    def _took(self, proposal: Proposal, verdict: Verdict) -> Verdict:
        """An allowed action will be carried out: the text it types becomes part of its window's."""
        if verdict.allowed:
            self.composer.commit()
            if verdict.asked and proposal.action.action == "type":
                self.composer.approve(proposal.action.text)
        return verdict

    def _settle(self, proposal: Proposal, verdict: Verdict, person_only: bool = False) -> Verdict:
        """A confirm verdict settled by the confirmation mode."""
        secrets = verdict.secrets
        if self.mode == "allow" and not person_only:
            return Verdict(Decision.ALLOW, f"{verdict.reason} (approved by --confirm allow)", secrets=secrets)
        if self.mode != "ask":
            return Verdict(Decision.DENY, f"{verdict.reason}; it needs a person's approval and none was asked",
                           secrets=secrets)
        approved = self._ask(proposal, verdict)  # type: ignore[misc]
        if approved:
            return Verdict(Decision.ALLOW, f"{verdict.reason} (a person approved)", asked=True, secrets=secrets)
        return Verdict(Decision.DENY, f"{verdict.reason}; a person declined", asked=True, secrets=secrets)
