"""Every table, imported in one place so that Alembic and tests see the whole metadata."""

from ceir.apikeys.models import ApiKey
from ceir.audit.models import AuditEvent, ImportBatch
from ceir.borders.models import BorderCrossing
from ceir.citizens.abroad_models import PurchaseDeclaration
from ceir.citizens.device_models import DeviceReport, OwnershipTransfer
from ceir.citizens.identity_models import ActLink, IdentityAct
from ceir.citizens.models import (
    Application,
    ApplicationEvent,
    CitizenSession,
    Document,
    PendingDocument,
    SignInCode,
)
from ceir.db import Base
from ceir.eir.models import EirJournalEntry
from ceir.network.models import (
    BlockPause,
    ClassificationRun,
    DeviceFlag,
    DeviceNumber,
    DeviceState,
    DeviceStateChange,
    ListFile,
    OperatorImport,
    SecondImeiCandidate,
    StolenDevice,
    Subscriber,
)
from ceir.partners.models import ApiKeyUsage, CheckJob, FeeEntry, Sale
from ceir.registry.models import Declaration, Device, DeviceImei, Registration
from ceir.review.models import Officer, OfficerSession
from ceir.sms.models import SmsMessage
from ceir.stats.models import CheckCount
from ceir.tac.models import TacModel

__all__ = [
    "ActLink",
    "ApiKey",
    "ApiKeyUsage",
    "Application",
    "ApplicationEvent",
    "AuditEvent",
    "Base",
    "BlockPause",
    "BorderCrossing",
    "CheckCount",
    "CheckJob",
    "CitizenSession",
    "ClassificationRun",
    "Declaration",
    "Device",
    "DeviceFlag",
    "DeviceImei",
    "DeviceNumber",
    "DeviceReport",
    "DeviceState",
    "DeviceStateChange",
    "Document",
    "EirJournalEntry",
    "FeeEntry",
    "IdentityAct",
    "ImportBatch",
    "ListFile",
    "Officer",
    "OfficerSession",
    "OperatorImport",
    "OwnershipTransfer",
    "PendingDocument",
    "PurchaseDeclaration",
    "Registration",
    "Sale",
    "SecondImeiCandidate",
    "SignInCode",
    "SmsMessage",
    "StolenDevice",
    "Subscriber",
    "TacModel",
]
