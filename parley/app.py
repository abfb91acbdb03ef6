"""The composition root: builds the FastAPI application from every package's routes.

Only this module and the CLI may import from every subpackage; the packages themselves
follow the dependency direction of ARCHITECTURE.md §1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from parley import __version__
from parley.admin_web.api import router as admin_web_router
from parley.admin_web.widgets import router as admin_widgets_router
from parley.agent_web import routers as agent_web_routers
from parley.chat_channel.api import router as visitor_socket_router
from parley.chat_channel.files import router as chat_files_router
from parley.chat_channel.tools_api import router as chat_tools_router
from parley.chat_channel.visitors import router as chat_visitors_router
from parley.chat_channel.widget_api import router as chat_widget_router
from parley.email_channel.api import router as email_router
from parley.email_channel.notifications import QueueMailer
from parley.platform.admin_api import routers as admin_api_routers
from parley.platform.agents.socket import router as agent_socket_router
from parley.platform.auth.api import router as auth_router
from parley.platform.auth.api import tokens_router
from parley.platform.cases import router as cases_router
from parley.platform.clock import Clock
from parley.platform.config import Settings, get_settings
from parley.platform.engine.api import router as engine_router
from parley.platform.runtime import Runtime
from parley.platform.web.errors import install_error_handlers
from parley.platform.web.health import record_metrics
from parley.platform.web.health import router as health_router
from parley.telephony.ami import AmiConnector
from parley.telephony.announcements import Announcer
from parley.telephony.api import router as calls_router
from parley.telephony.callbacks import CallbackScheduler
from parley.telephony.control import CallControl
from parley.telephony.forwarding import router as call_forward_router
from parley.telephony.help import router as help_router
from parley.telephony.help import socket_handler as help_socket_handler
from parley.telephony.media.gateway import MediaGateway
from parley.telephony.media.relay import LineSignalRelay
from parley.telephony.messages import router as call_messages_router
from parley.telephony.supervision import router as supervision_router
from parley.telephony.voice import VoiceService, parse_ami_url

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def add_voice(runtime: Runtime) -> CallControl | None:
    """Voice is on when an AMI URL is configured and this process runs the engine."""
    settings = runtime.settings
    url = settings.ami_url.get_secret_value()
    if not url or runtime.engine is None:
        return None
    voice = VoiceService(
        runtime,
        AmiConnector(parse_ami_url(url)),
        agi_host=settings.fastagi_host,
        agi_port=settings.fastagi_port,
        ring_seconds=settings.voice_ring_seconds,
    )
    runtime.services.append(voice)
    runtime.services.append(Announcer(runtime, voice))
    runtime.readiness["voice"] = voice.readiness
    control = CallControl(voice)
    runtime.call_commands = control.run
    return control


def add_media(runtime: Runtime) -> MediaGateway | None:
    """The media gateway (browser lines <-> AudioSocket) when this process runs `media`;
    else the agent websocket's line frames go over the bus to the media process."""
    settings = runtime.settings
    if "media" not in settings.roles:
        runtime.line_signals = LineSignalRelay(runtime).signal
        return None
    gateway = MediaGateway(
        runtime,
        host=settings.media_bind or settings.media_host,
        port=settings.media_port,
        advertised_host=settings.media_host,
    )
    runtime.services.append(gateway)
    runtime.readiness["media"] = gateway.readiness
    runtime.line_signals = gateway.signal
    return gateway


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime.from_settings(settings or get_settings(), clock=clock)
    call_control = add_voice(runtime)
    media_gateway = add_media(runtime)
    runtime.mailer = QueueMailer(runtime)
    runtime.help_requests = help_socket_handler(runtime)
    if runtime.engine is not None:
        runtime.services.append(CallbackScheduler(runtime))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Parley",
        version=__version__,
        description="Omnichannel contact center: REST API.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.call_control = call_control
    app.state.media_gateway = media_gateway
    install_error_handlers(app)
    app.middleware("http")(record_metrics)
    app.middleware("http")(_security_headers)
    for router in (
        health_router,
        auth_router,
        tokens_router,
        *admin_api_routers(),
        cases_router,
        engine_router,
        agent_socket_router,
        visitor_socket_router,
        chat_visitors_router,
        calls_router,
        call_messages_router,
        call_forward_router,
        help_router,
        supervision_router,
        chat_widget_router,
        chat_files_router,
        chat_tools_router,
        email_router,
        *agent_web_routers(),
        admin_web_router,
        admin_widgets_router,
    ):
        app.include_router(router)
    return app
