"""Pages require a login; the login page works."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_logs_in_and_shows_the_overview(client):
    get_user_model().objects.create_user("ana", password="correct-horse-battery")
    response = client.post(
        "/login/", {"username": "ana", "password": "correct-horse-battery"}, follow=True
    )
    assert response.status_code == 200
    assert b"Overview" in response.content
    assert b"ana" in response.content


def test_it_rejects_a_wrong_password(client):
    get_user_model().objects.create_user("ana", password="correct-horse-battery")
    response = client.post("/login/", {"username": "ana", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_it_requires_authentication_for_the_api_and_its_docs(client):
    for url in ("/api/v1/policies/", "/api/schema/", "/api/docs/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"


def test_it_serves_the_api_docs_from_the_app_itself(client):
    user = get_user_model().objects.create_user("ana", password="correct-horse-battery")
    client.force_login(user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert client.get("/api/schema/").status_code == 200
