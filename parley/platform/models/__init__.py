"""SQLAlchemy models of the domain nouns of ARCHITECTURE.md §3.

Importing this package registers every table on `Base.metadata` (Alembic and the
test fixtures rely on that).
"""

from parley.platform.models.calendar import FollowUp
from parley.platform.models.chat import (
    ChatBan,
    ChatFile,
    ChatInvitationScenario,
    ChatRating,
    ChatVisitor,
    ChatVisitorComment,
    ChatWidget,
)
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
    PickMode,
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
    CallForward,
    HelpRequest,
    IvrMenu,
    QueueVoiceSettings,
    ScheduledCallback,
    VoiceNumber,
)

__all__ = [
    "AgentSkill",
    "AgentStateLog",
    "ApiToken",
    "AuditLog",
    "BlockedCaller",
    "CallForward",
    "CallbackState",
    "Case",
    "CasePriority",
    "CaseStatus",
    "Channel",
    "ChatBan",
    "ChatFile",
    "ChatInvitationScenario",
    "ChatRating",
    "ChatVisitor",
    "ChatVisitorComment",
    "ChatWidget",
    "Contact",
    "ContactIdentity",
    "Direction",
    "Disposition",
    "EmailAccount",
    "EmailDraft",
    "EmailTemplate",
    "FollowUp",
    "HelpRequest",
    "Interaction",
    "InteractionState",
    "IvrMenu",
    "LoginAttempt",
    "Message",
    "MessageKind",
    "Offer",
    "OfferOutcome",
    "PickMode",
    "Queue",
    "QueueSkill",
    "QueueVoiceSettings",
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
