"""Prometheus metrics over HTTP: requests are labelled by their route's template."""

from __future__ import annotations

from parley.platform.models import Role
from tests.conftest import Api


async def test_requests_are_counted_by_route_template_not_by_path(api: Api) -> None:
    admin = await api.session_for(Role.ADMIN)
    token = (await admin.post("/api/tokens", json={"name": "prometheus"})).json()
    assert (await admin.delete(f"/api/tokens/{token['id']}")).status_code == 204
    text = (await admin.get("/metrics")).text
    assert 'route="/api/tokens/{token_id}"' in text
    assert f"/api/tokens/{token['id']}" not in text
    assert 'method="DELETE",route="/api/tokens/{token_id}",status="204"' in text
