"""Delivery rules: who may see what (access), the t/* negotiation rule (twin of
edge/normalize.js) and responsive ``<picture>`` markup.

Signing itself lives in `imagepipe.signed_urls`; the sign-url and transform stages in
`imagepipe.stages.sign` and `imagepipe.stages.transform`. The local CloudFront twin is a
developer tool (`imagepipe_tools.cloudfront`).
"""
