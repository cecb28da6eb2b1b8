"""Pure builders of the objects that serve one VisionModel revision: Deployments, Services, HPAs, config."""
