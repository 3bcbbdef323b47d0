"""Confirmation tokens and short codes, their repository, and confirm/cancel parsing."""
