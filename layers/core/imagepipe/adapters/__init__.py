"""Adapters: one module per AWS service, each taking its boto3 client as an argument."""
