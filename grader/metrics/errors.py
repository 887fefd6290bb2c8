"""The two ways a metric can decline to produce a number.

A metric that cannot be trusted must say so loudly instead of returning a plausible-looking value
(0% faces, FID 0.0): the grader records either error as an outcome, never as a score.
"""


class MetricUnavailable(RuntimeError):
    """The environment cannot compute this metric (a missing wheel, an incompatible Pillow).

    The message always names the command that fixes the environment.
    """


class MetricRefused(RuntimeError):
    """The inputs make the metric meaningless (e.g. the face detector finds no face in real data)."""
