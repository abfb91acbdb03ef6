"""SQLAlchemy models of the domain nouns of ARCHITECTURE.md §3.

Importing this package registers every table on `Base.metadata` (Alembic and the
test fixtures rely on that).
"""

from parley.platform.models.calendar import FollowUp
from parley.platform.models.chat import ChatVisitor, ChatWidget
from parley.platform.models.customers import (
    Case,
    CasePriority,
    CaseStatus,
    Contact,
    ContactIdentity,
)
from parley.platform.models.directory import AgentSkill, Role, Skill, Team, User
from parley.platform.models.email import EmailAccount, EmailDraft, EmailTemplate, TlsMode
from parley.platform.models.interactions import (
    AgentStateLog,
    Channel,
    Direction,
    Interaction,
    InteractionState,
    Message,
    MessageKind,
    Offer,
    OfferOutcome,
)
from parley.platform.models.routing import (
    Disposition,
    Queue,
    QueueSkill,
    QuickReply,
    ReasonCode,
    RoutingStrategy,
    Schedule,
)
from parley.platform.models.security import ApiToken, AuditLog, LoginAttempt, UserSession
from parley.platform.models.voice import (
    BlockedCaller,
    CallbackState,
    IvrMenu,
    ScheduledCallback,
    VoiceNumber,
)

__all__ = [
    "AgentSkill",
    "AgentStateLog",
    "ApiToken",
    "AuditLog",
    "BlockedCaller",
    "CallbackState",
    "Case",
    "CasePriority",
    "CaseStatus",
    "Channel",
    "ChatVisitor",
    "ChatWidget",
    "Contact",
    "ContactIdentity",
    "Direction",
    "Disposition",
    "EmailAccount",
    "EmailDraft",
    "EmailTemplate",
    "FollowUp",
    "Interaction",
    "InteractionState",
    "IvrMenu",
    "LoginAttempt",
    "Message",
    "MessageKind",
    "Offer",
    "OfferOutcome",
    "Queue",
    "QueueSkill",
    "QuickReply",
    "ReasonCode",
    "Role",
    "RoutingStrategy",
    "Schedule",
    "ScheduledCallback",
    "Skill",
    "Team",
    "TlsMode",
    "User",
    "UserSession",
    "VoiceNumber",
]
