"""A second AMI connection for tests: every dialplan step Asterisk runs (`Newexten`), to
prove what a channel played, beside the connector Parley itself uses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from panoramisk import Manager

from parley.telephony.ami import AmiEndpoint


@dataclass
class DialplanStep:
    channel: str
    context: str
    application: str
    data: str


@dataclass
class AmiTap:
    endpoint: AmiEndpoint
    steps: list[DialplanStep] = field(default_factory=list)
    _manager: Any = None

    async def start(self) -> None:
        manager = Manager(
            host=self.endpoint.host,
            port=self.endpoint.port,
            loop=asyncio.get_running_loop(),
            events="on",
            ping_delay=3600,
        )
        manager.register_event("Newexten", self._on_step)
        await manager.connect()
        login = await manager.send_action(
            {
                "Action": "Login",
                "Username": self.endpoint.username,
                "Secret": self.endpoint.secret,
                "Events": "on",
            }
        )
        assert login.success, login
        self._manager = manager

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()

    def _on_step(self, _manager: Any, event: Any) -> None:
        self.steps.append(
            DialplanStep(
                str(event.get("Channel", "")),
                str(event.get("Context", "")),
                str(event.get("Application", "")),
                str(event.get("AppData", "")),
            )
        )

    def played(self, channel_prefix: str, application: str) -> list[str]:
        """What `application` was given on channels whose name starts so."""
        return [
            step.data
            for step in self.steps
            if step.channel.startswith(channel_prefix) and step.application == application
        ]
