"""HTTP plumbing: middleware, typed dependencies, error mapping, health routes."""
