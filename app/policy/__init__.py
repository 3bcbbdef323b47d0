"""Permissions that change at run time: the policy file re-read as it changes, and the
grants and revocations kept in the database (`llm-planner policy`)."""
