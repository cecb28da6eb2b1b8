"""The chaos run's attribution of client errors: a late answer (router 504, client timeout) is the node's saturation
unless a pod fault is near, and is bounded; any other error near a control-plane fault is that fault's cost."""

from __future__ import annotations

from visionroll_demo import chaos

T0 = 1_000.0


def _run(*answers: tuple[float, str, str, str]) -> chaos.Run:
    run = chaos.Run(
        faults=[
            chaos.Fault("operator-kill", "canary", 10.0, "SIGKILL", wall=(T0 + 10, T0 + 10)),
            chaos.Fault("stable-pod-kill", "canary", 60.0, "SIGKILL", wall=(T0 + 60, T0 + 60)),
        ],
        client_codes={"200": 1000},
    )
    chaos.attribute(run, list(answers), starts=[])
    return run


def test_a_late_answer_after_an_operator_kill_is_not_its_cost() -> None:
    run = _run((T0 + 12, "504", "stable", '{"error": "upstream stable timed out"}'))
    assert (run.late, run.faults[0].errors) == (1, 0)
    run = _run((T0 + 12, "error", "-", "ReadTimeout: HTTPConnectionPool(...): Read timed out."))
    assert (run.late, run.faults[0].errors) == (1, 0)
    assert chaos.check(run, min_operator_kills=1) == []


def test_other_errors_after_an_operator_kill_are_its_cost() -> None:
    for code, body in (("502", '{"error": "upstream stable unreachable"}'), ("error", "ConnectionError: refused")):
        run = _run((T0 + 12, code, "stable", body))
        assert (run.late, run.faults[0].errors) == (0, 1)
        assert chaos.check(run, min_operator_kills=1) == ["operator-kill at 10s cost clients 1 errors"]


def test_a_late_answer_near_a_pod_fault_is_the_pods() -> None:
    run = _run((T0 + 62, "504", "stable", '{"error": "upstream stable timed out"}'))
    assert (run.late, run.faults[1].errors) == (0, 1)


def test_late_answers_are_bounded() -> None:
    late = [(T0 + 20 + i, "504", "stable", "timed out") for i in range(6)]
    run = _run(*late)
    assert run.late == 6
    assert chaos.check(run, min_operator_kills=1) == ["6 answers did not come in time, more than 0.5% of 1000 requests"]
