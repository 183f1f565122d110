"""Adapters: the only code that knows DynamoDB keys, SQS, Secrets Manager and HTTP."""
