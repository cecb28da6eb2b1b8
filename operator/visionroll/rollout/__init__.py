"""The pure decision core: strategies and analysis verdicts, plain data in and out, no I/O imports."""

from visionroll.rollout.decide import analysis_due, decide, step

__all__ = ["analysis_due", "decide", "step"]
