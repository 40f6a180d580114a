"""The local runtime: template.yaml on moto server, with the real handlers polling real queues.

It plays the part ``sam local invoke`` and the Lambda event source mappings play in AWS,
without Docker. It is a developer tool and is not shipped to Lambda in any code path.
"""
