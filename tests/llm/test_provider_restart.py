"""The ledger and the effect log survive a restart of the provider process."""

from __future__ import annotations

from pathlib import Path

import httpx
from llm_provider_support import USER, openai_client

from harness.llm import ProviderClient, ProviderProcess


def test_ledger_and_effects_survive_restart(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with ProviderProcess(ledger_path=ledger, tokens_per_second=0, run_id="tests-restart") as prov:
        sdk = openai_client(prov.url, "wf-r")
        for _ in range(2):
            sdk.chat.completions.create(model="mock-gpt-4o", messages=USER)
        with ProviderClient(prov.url) as client:
            assert client.send_effect("k1", "publish", workflow_id="wf-r")
            before = client.ledger("wf-r")
        first_url, first_pid = prov.url, prov.pid
        prov.restart()
        assert prov.pid != first_pid and prov.url == first_url
        openai_client(prov.url, "wf-r").chat.completions.create(model="mock-gpt-4o", messages=USER)
        with ProviderClient(prov.url) as client:
            after = client.ledger_json("wf-r")
            assert [e["request_id"] for e in after[:2]] == [e.request_id for e in before]
            assert [e["call"] for e in after] == [1, 2, 3]
            assert len({e["nonce"] for e in after}) == 3
            assert client.wait_for("wf-r", 1, "delivered", timeout_s=2).delivered
            assert not client.send_effect("k1", "publish", workflow_id="wf-r")
            assert [e.applied for e in client.effects("wf-r")] == [True, False]
    assert ledger.exists() and len(ledger.read_text().splitlines()) == 9  # 3 requests x 3 phases


def test_torn_last_line_is_skipped_and_appending_continues(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text('{"phase":"received","request_id":"req-old","workflow_id":"w","call":1,'
                      '"model":"mock-gpt-4o","received_ns":1}\n{"phase":"respon')
    with ProviderProcess(ledger_path=ledger, tokens_per_second=0) as prov:
        httpx.post(prov.url + "/v1/chat/completions", timeout=10,
                   headers={"X-Durabench-Workflow-Id": "w"},
                   json={"model": "mock-gpt-4o", "messages": USER}).raise_for_status()
        with ProviderClient(prov.url) as client:
            old, new = client.ledger_json("w")
    assert old["request_id"] == "req-old" and old["responded_ns"] is None
    assert new["call"] == 2 and new["status"] == 200
