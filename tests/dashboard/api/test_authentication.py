"""API tokens: the precompiled lookup answers as DRF's does."""

from __future__ import annotations

from rest_framework.test import APIClient

from dashboard.services.users import token_mint


def test_it_authenticates_a_token_as_its_user(api, users):
    response = api["vera"].get("/api/v1/decisions/")
    assert response.status_code == 200


def test_it_refuses_an_unknown_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/decisions/")
    assert response.status_code == 401
    assert "Invalid token" in response.content.decode()


def test_it_refuses_the_token_of_an_inactive_user(users):
    key = token_mint(username="vera")
    users["vera"].is_active = False
    users["vera"].save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/v1/decisions/")
    assert response.status_code == 401
    assert "inactive" in response.content.decode()


def test_it_refuses_a_role_revoked_after_the_token_was_minted(api, users, pending):
    users["otto"].groups.clear()
    response = api["otto"].post(f"/api/v1/decisions/{pending.pk}/approve/", {}, format="json")
    assert response.status_code == 403
