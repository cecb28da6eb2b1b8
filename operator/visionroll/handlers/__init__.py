"""Thin kopf glue: events in, reconcile called, errors mapped to kopf's retry semantics."""
