"""Cases (F-CS-1): tickets with a status, priority, queue, assignee, tags, custom fields
and an SLA due time, whose timeline is every interaction on every channel, with notes
and merges.

`domain` holds the rules (no I/O), `service` does the changes (audited, announced on
the bus), `store` the queries, and `router` the REST routes (`/api/cases`), which the
composition root includes. Channels that open cases (email) give them their due time
with `sla_terms` (the queue's threshold and business hours, read once) and its
`due_at`, or `sla_due_for` in one call.
"""

from parley.platform.cases.api import router
from parley.platform.cases.domain import SlaTerms, sla_due_at
from parley.platform.cases.service import CaseContext, sla_due_for
from parley.platform.cases.store import sla_terms

__all__ = [
    "CaseContext",
    "SlaTerms",
    "router",
    "sla_due_at",
    "sla_due_for",
    "sla_terms",
]
