"""Fails at import: a NameError at module level, as a typo would."""

BETAS = undefined_schedule(1000)  # noqa: F821
