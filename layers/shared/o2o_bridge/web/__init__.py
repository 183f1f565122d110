"""HTTP edges: request parsing and the answer formats each caller expects."""
