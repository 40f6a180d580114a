"""Text-to-image models (Amazon Bedrock) and the registry that picks one per request
(`imagepipe.generation.registry`)."""
