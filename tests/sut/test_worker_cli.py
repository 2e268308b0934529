"""The worker command line shared by the built-in workers (harness/sut/_worker_cli.py)."""

from __future__ import annotations

import pytest

from harness.sut._worker_cli import (
    ENV_POSTGRES,
    ENV_PROVIDER,
    db_timeout_s,
    required_env,
    worker_parser,
)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"attempts": "--max-attempts"},
     {"lease": 2.0, "heartbeat": 0.5, "poll": 0.1, "grace": 2.0, "max_attempts": 11}),
    ({"attempts": "--max-recovery-attempts", "lease": False},
     {"poll": 0.1, "grace": 2.0, "max_recovery_attempts": 10}),
    ({"attempts": "--max-recovery-attempts", "poll": False},
     {"lease": 2.0, "heartbeat": 0.5, "grace": 2.0, "max_recovery_attempts": 10}),
])  # fmt: skip
def test_the_shared_options_and_their_defaults(kwargs: dict[str, object],
                                               expected: dict[str, object]) -> None:  # fmt: skip
    p = worker_parser("harness.sut.x.worker", None, default_executor_id="x-1", **kwargs)  # type: ignore[arg-type]
    args = vars(p.parse_args(["--workload", "research_agent"]))
    assert args == {"workload": "research_agent", "executor_id": "x-1", **expected}
    assert p.prog == "python -m harness.sut.x.worker"


def test_an_unknown_workload_is_a_usage_error() -> None:
    p = worker_parser("m", None, default_executor_id="x", attempts="--max-attempts")
    with pytest.raises(SystemExit) as exited:
        p.parse_args(["--workload", "no_such_workload"])
    assert exited.value.code == 2


def test_missing_addresses_are_a_usage_error_naming_both(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    p = worker_parser("m", None, default_executor_id="x", attempts="--max-attempts")
    monkeypatch.setenv(ENV_POSTGRES, "postgresql://db")
    monkeypatch.delenv(ENV_PROVIDER, raising=False)
    with pytest.raises(SystemExit) as exited:
        required_env(p, ENV_POSTGRES, ENV_PROVIDER)
    assert exited.value.code == 2
    assert f"set {ENV_POSTGRES} and {ENV_PROVIDER} (the trial's database and provider)" in (
        capsys.readouterr().err)
    monkeypatch.setenv(ENV_PROVIDER, "http://llm")
    assert required_env(p, ENV_POSTGRES, ENV_PROVIDER) == ("postgresql://db", "http://llm")


def test_the_db_timeout_defaults_to_30_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DURABENCH_DB_TIMEOUT_S", raising=False)
    assert db_timeout_s() == 30.0
    monkeypatch.setenv("DURABENCH_DB_TIMEOUT_S", "1.5")
    assert db_timeout_s() == 1.5
