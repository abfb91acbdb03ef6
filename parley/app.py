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
from parley.agent_web import routers as agent_web_routers
from parley.chat_channel.api import router as visitor_socket_router
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
from parley.telephony.api import router as calls_router
from parley.telephony.callbacks import CallbackScheduler
from parley.telephony.control import CallControl
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
    runtime.readiness["voice"] = voice.readiness
    control = CallControl(voice)
    runtime.call_commands = control.command
    return control


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime.from_settings(settings or get_settings(), clock=clock)
    call_control = add_voice(runtime)
    runtime.mailer = QueueMailer(runtime)
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
        calls_router,
        chat_widget_router,
        email_router,
        *agent_web_routers(),
        admin_web_router,
    ):
        app.include_router(router)
    return app
