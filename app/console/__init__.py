"""The operator console: server-rendered pages under /console for the people who run the
service (sign-in, overview, conversations, approvals, tasks, agents, audit)."""
