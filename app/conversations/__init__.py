"""Conversations: the turn, its history repository, and the wording of replies."""
