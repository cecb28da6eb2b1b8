"""visionroll: a Kubernetes operator that rolls out computer-vision models served by TorchServe."""
