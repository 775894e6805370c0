"""Vocabulary and maths: enums, frozen dataclasses, sky/visibility. No I/O."""
