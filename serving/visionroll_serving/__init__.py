"""visionroll's data plane: the TorchServe vision handler (`handler`, `model`), the digits model build (`build`,
`samples`), the traffic router with router.json's schema (`router`), and the TorchServe management client
(`management`). It imports neither the operator nor the dev environment (pyproject.toml's import contracts).

Importing this package is cheap on purpose: the router never imports torch, so nothing heavy happens here.
"""
