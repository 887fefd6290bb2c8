"""The one exception type the data package raises for problems the user can fix."""


class DatasetError(ValueError):
    """A dataset could not be found or read; the message says what to do about it."""
