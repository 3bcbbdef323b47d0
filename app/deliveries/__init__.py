"""Inbound deliveries: dedupe, lease and takeover, their answers, out-of-band repliers."""
