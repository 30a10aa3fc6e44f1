"""Every table, imported in one place so that Alembic and tests see the whole metadata."""

from ceir.audit.models import AuditEvent
from ceir.db import Base
from ceir.importing import ImportBatch
from ceir.registry.models import Declaration, Device, DeviceImei, Registration
from ceir.tac.models import TacModel

__all__ = [
    "AuditEvent",
    "Base",
    "Declaration",
    "Device",
    "DeviceImei",
    "ImportBatch",
    "Registration",
    "TacModel",
]
