"""The operator's exceptions. Only `visionroll.handlers` decides what they lead to (`handlers/retry.py`): a transient
error is retried with a backoff; a permanent one is not retried until the VisionModel or an object it owns changes.
kopf's own handler retries are not used. The tick reports InvalidSpec and ApiRejected as Degraded=True with an Event;
UnknownProvider cannot meet an admitted spec (tests/unit/api/test_providers.py), so only the log reports it.

    VisionrollError
     ├── TransientError            worth retrying: the API server was busy, a conflict, a timeout
     │    └── ApiUnavailable       no answer or a 5xx/429 from the API server
     └── PermanentError            retrying the same input cannot help
          ├── InvalidSpec          a VisionModel the API should have refused (schema drift, hand-edited storage)
          ├── UnknownProvider      a traffic provider name with no implementation
          └── ApiRejected          the API server refused an object we built (4xx other than conflicts)

Invalid *references* (a claim that does not exist) are not exceptions: they are findings reported as
Degraded=True in the status, because the VisionModel becomes healthy by itself when the claim appears.
"""

from __future__ import annotations


class VisionrollError(Exception):
    """Base of every error the operator raises on purpose."""


class TransientError(VisionrollError):
    """Retry later, after the caller's backoff."""


class ApiUnavailable(TransientError):
    """The API server did not answer, or answered 5xx/429."""


class PermanentError(VisionrollError):
    """The same input will fail the same way."""


class InvalidSpec(PermanentError):
    """The VisionModel's spec does not validate."""


class UnknownProvider(PermanentError):
    """No traffic provider is registered under the requested name."""


class ApiRejected(PermanentError):
    """The API server refused a request (4xx other than 404/409/429)."""
