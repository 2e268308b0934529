"""``db_crash``: the SUT's durable store crashes and restarts after ``down_s`` seconds: Postgres
immediate shutdown (no checkpoint, like a power cut or an OOM kill of the postmaster), or the
crash of the SUT's own server that its ``durable_store`` names.

Workers must ride it out (reconnect with backoff) or be replaced; nothing recorded may be lost and
no workflow may be left pending. Heal makes sure the store is running again.

With ``owner_back_after_s``, the victim (the workflow's owner) is the last one back, and its
return is pinned on an event where one can be seen: the first claim poll of a peer after the
restart (``SutDescription.claim_poll``, seen in the trial's statement log), then
``owner_back_after_s`` more. By time alone it came back at the same moment as its peers: every
worker lost its sessions at one instant, so their reconnect backoffs tick together, and a peer
back on a tick found the owner back on the same one (seen here: all three executor locks re-taken
within 14 ms, a 1 s head start swallowed by a 2 s tick). Where the SUT declares no claim poll or
the environment logs no statements, the return counts from the restart. The ``fault_healed``
event says which (``owner_back_after``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.env import CapabilityUnavailable
from harness.faults._base import FaultTarget, FaultUnavailable

PEER_POLL_WAIT_S = 10.0
"""How long the owner stays cut off, at most, waiting for a peer's first claim poll after the
restart, before it comes back anyway (counted from the restart then)."""


@dataclass(frozen=True)
class DbCrashFault:
    down_s: float = 2.0
    owner_back_after_s: float = 0.0
    """The victim's Postgres link stays down this much longer than its peers are back (module
    docstring): every worker loses its sessions at once, and the owner is the last one back --
    the order in which its peers, reconnected, find its session missing while it lives. Needs the
    others on links of their own (``Recovery(own_links=True)``) and a SUT whose store is
    Postgres."""
    name: str = "db_crash"
    kills_worker: bool = False

    @property
    def watches_claim_polls(self) -> bool:
        return bool(self.owner_back_after_s)

    def inject(self, target: FaultTarget) -> None:
        if self.owner_back_after_s:
            target.peer_proxy("postgres")  # a clear error when the others share the victim's link
        try:
            target.crash_store()
        except CapabilityUnavailable as exc:
            raise FaultUnavailable(str(exc)) from exc
        if self.owner_back_after_s:
            # Only once the store is down: cut first, the owner's session would end while its
            # peers' live on, and a peer polling in that gap (seen under load: 0.1 s) would
            # rightly take its missing lock for a death.
            target.env.toxiproxy().set_enabled(target.proxy("postgres"), False)
        time.sleep(self.down_s)

    def heal(self, target: FaultTarget) -> None:
        polls = target.claim_polls if self.owner_back_after_s else None
        since = polls.mark() if polls is not None else 0  # the store is down: nothing comes
        try:
            target.restart_store()
        except CapabilityUnavailable:
            pass  # inject could not crash it either
        finally:
            if self.owner_back_after_s:
                self._owner_back(target, since)

    def _owner_back(self, target: FaultTarget, since: int) -> None:
        polls = target.claim_polls
        seen = polls.wait(since, PEER_POLL_WAIT_S) if polls is not None else None
        if seen is not None:  # the owner's link is down: only a peer can have sent it
            target.healed.update({"owner_back_after": "a peer's claim poll",
                                  "peer_poll": " ".join(seen.text.split())[:120]})
        else:
            target.healed["owner_back_after"] = "the restart" if polls is None else (
                f"the restart: no claim poll of a peer within {PEER_POLL_WAIT_S:g} s")
        time.sleep(self.owner_back_after_s)
        target.env.toxiproxy().set_enabled(target.proxy("postgres"), True)
