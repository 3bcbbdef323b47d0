"""Not an MCP server: answers every line on stdin with garbage."""
import sys

for line in sys.stdin:
    sys.stdout.write("this is not JSON-RPC {{{\n")
    sys.stdout.write('{"jsonrpc": "2.0", "id": 0, "result": 42}\n')
    sys.stdout.flush()
