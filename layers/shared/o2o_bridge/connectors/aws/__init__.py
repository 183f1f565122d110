"""AWS: DynamoDB state, the SQS retry queue and dead letters, Secrets Manager references."""
