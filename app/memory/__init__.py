"""Memories a person asked to keep: what they are, whose, and how they are found again."""
