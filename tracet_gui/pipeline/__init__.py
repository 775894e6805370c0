"""The event pipeline: parse raw VOEvent bytes, group, decide per proposal, trigger, record."""
