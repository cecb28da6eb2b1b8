"""One tick for one VisionModel: snapshot, reconcile workloads and traffic, measure, decide, write status once."""
