"""The test suite; tests/support holds what several test folders share."""
