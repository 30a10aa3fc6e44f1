"""Every table, imported in one place so that Alembic and tests see the whole metadata."""

from ceir.apikeys.models import ApiKey
from ceir.audit.models import AuditEvent
from ceir.db import Base
from ceir.importing import ImportBatch
from ceir.network.models import (
    BlockPause,
    ClassificationRun,
    DeviceState,
    DeviceStateChange,
    ListFile,
    OperatorImport,
    StolenDevice,
    Subscriber,
)
from ceir.registry.models import Declaration, Device, DeviceImei, Registration
from ceir.tac.models import TacModel

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "BlockPause",
    "ClassificationRun",
    "Declaration",
    "Device",
    "DeviceImei",
    "DeviceState",
    "DeviceStateChange",
    "ImportBatch",
    "ListFile",
    "OperatorImport",
    "Registration",
    "StolenDevice",
    "Subscriber",
    "TacModel",
]
