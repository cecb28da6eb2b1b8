"""`python -m visionroll`: the operator, standalone (one replica), against whatever $KUBECONFIG points to (or the
in-cluster service account)."""

from __future__ import annotations

import logging

import kopf

from visionroll.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level.upper() != "DEBUG":
        # One line per handled watch event ("Handler 'owned_event' succeeded") and per health probe is noise at
        # hundreds of VisionModels; warnings and errors still show.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    import visionroll.handlers.operator  # noqa: F401  (registers the handlers)

    liveness = f"http://{settings.bind_address}:{settings.health_port}/healthz" if settings.health_port else None
    kopf.run(
        standalone=True,
        clusterwide=not settings.namespace,
        namespaces=[settings.namespace] if settings.namespace else (),
        liveness_endpoint=liveness,
        memo=kopf.Memo(settings=settings),
    )


if __name__ == "__main__":
    main()
