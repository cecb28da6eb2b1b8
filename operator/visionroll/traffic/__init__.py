"""Traffic providers behind one small Protocol: the built-in router, Gateway API HTTPRoute."""
