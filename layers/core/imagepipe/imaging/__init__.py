"""Image handling for the pipeline: validation and decoding (probe), derivatives (engine),
formats and XMP. Pure functions over bytes and Pillow images; nothing here talks to AWS.

Import the submodule you need: this package re-exports nothing, so a function that only
probes uploads never loads the encoders.
"""
