"""What the Python side knows of the router (serving/router, a Go program in an image of its own): router.json's
schema, which the operator writes with (`config`), and the buckets of its latency histograms, which the rollout
simulations reproduce (`series`)."""
