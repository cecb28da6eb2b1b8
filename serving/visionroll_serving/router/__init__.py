"""The traffic router: weighted split, sticky sessions and shadow mirroring in front of TorchServe variants.

Layout: `config` (router.json, parsed and validated, pure), `routing` (which variant serves a request, pure),
`answers` (top-1 of a handler answer, pure), `metrics` (Prometheus series of docs/contracts.md), `shadow`
(bounded mirroring and agreement), `app` (the aiohttp server), `sources` (hot reload from a file or a ConfigMap),
`__main__` (the command line).
"""
