"""imagepipe: the core of an AWS-serverless pipeline for AI-generated images.

The package is shipped to Lambda as a SAM-built layer and installed locally
(editable) for the CLI, the local runtime and the tests.
"""

__version__ = "0.1.0"
