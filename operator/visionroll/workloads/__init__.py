"""Pure builders of the Kubernetes objects that serve one VisionModel revision (Deployments, Services, HPAs, TorchServe config)."""
