"""Image and prompt moderation: backends produce labels, policies turn them into verdicts.

Import the submodule you need: this package re-exports nothing, so a function that only
checks prompts never loads an image classifier.
"""
