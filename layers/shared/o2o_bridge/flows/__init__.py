"""Business flows, one module per scenario, in the bridge's own terms over the ports
(docs/architecture.md). Plain Python: no HTTP, no DynamoDB keys, no outside system's names.

``kit`` holds what they share (the context, effects done once, retried steps, scheduled
work per tenant). Store events reach flows through ``o2o_bridge.events.routes.ROUTES``;
retry commands through ``o2o_bridge.wiring.retry_commands``.
"""
