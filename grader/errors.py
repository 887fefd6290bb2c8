"""The two ways grading stops short of a score."""

from __future__ import annotations


class GraderError(Exception):
    """The grader itself cannot run (bad path, bad arguments, broken rubric, missing reference).

    The CLI prints the message as one line and exits non-zero; nothing is scored.
    """


class SubmissionError(Exception):
    """The submission cannot be graded (unsafe zip, no diffusion_hw/ package inside).

    Grading still completes: every check scores 0 and the message becomes the feedback.
    """
