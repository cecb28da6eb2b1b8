"""Prometheus queries as named templates, and the provider that runs them."""
