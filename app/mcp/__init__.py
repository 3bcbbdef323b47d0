"""MCP, both ways: other servers' tools offered under our rules (client), and our catalogue
offered to MCP clients (server), writes still approved by a person."""
