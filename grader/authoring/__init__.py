"""Instructor-side tools that turn `solution/` into what students get."""
