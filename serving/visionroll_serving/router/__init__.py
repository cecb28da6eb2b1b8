"""The traffic router: weighted split, sticky sessions, shadow mirroring and paired copies in front of TorchServe
variants, and ground-truth feedback.

Layout: `config` (router.json's one schema, which the operator writes with, and its parsing; pure), `routing` (which
variant serves a request and which gets a copy, pure), `answers` (top-1 of a handler answer, pure), `metrics`
(Prometheus series of docs/contracts.md), `copies` (bounded shadow and paired copies, and agreement), `feedback`
(request ids, the bounded answer log, feedback bodies), `guard` (deadlines for a request's head and body, admission
by body bytes and requests in flight), `app` (the requests: predictions, feedback, probes, metrics), `server` (the
HTTP/1.1 server on asyncio protocols), `upstream` (the keep-alive client to the variants), `http` (HTTP/1.1 framing),
`sources` (hot reload from a file or a ConfigMap), `__main__` (the command line).
"""
