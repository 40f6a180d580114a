"""Provenance beyond the table: C2PA Content Credentials, the model registry, the public
provenance token and the trace that answers "where did this file come from?"."""
