"""visionroll's data plane: the TorchServe vision handler, the digits model build, the traffic router and the
TorchServe management client.

Importing this package is cheap on purpose: the router never imports torch, so nothing heavy happens here.
"""
