"""Connectors: one package per outside system (jushuitan, store = 店+, aws), the only code
that knows HTTP, signing, XML, DynamoDB keys, SQS or Secrets Manager."""
