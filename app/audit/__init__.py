"""The audit trail: a hash chain of every decision, its repository, and its routes."""
