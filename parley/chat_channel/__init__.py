"""Web chat: the site widget, the visitor protocol, visitor tracking, invitations."""
