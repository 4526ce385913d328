"""The service frame: a service declares what it consumes and produces, one runner runs it.

See docs/architecture.md for a service's declaration and how a new service is added.
"""

from shared.frame.config import HttpSettings, InstanceSettings, ServiceConfig
from shared.frame.declaration import Binding, Consumes, ServiceDeclaration
from shared.frame.runner import Runtime, ServiceFailed, Stoppable, Wiring, run_service, serve

__all__ = [
    "Binding",
    "Consumes",
    "HttpSettings",
    "InstanceSettings",
    "Runtime",
    "ServiceConfig",
    "ServiceDeclaration",
    "ServiceFailed",
    "Stoppable",
    "Wiring",
    "run_service",
    "serve",
]
