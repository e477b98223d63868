"""Pages require a login; the login page works; the API docs are served by the app itself."""

import re

import pytest
from django.contrib.auth import get_user_model

from tests import factories

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_login(client):
    for url in ("/", "/queue/", "/policies/", "/experiences/", "/audit/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url


def test_it_logs_in_and_shows_the_fleet(client):
    factories.make_user("ana", "viewer", password="correct-horse-battery")
    response = client.post(
        "/login/", {"username": "ana", "password": "correct-horse-battery"}, follow=True
    )
    assert response.status_code == 200
    assert b"Fleet overview" in response.content
    assert b"ana" in response.content


def test_it_rejects_a_wrong_password(client):
    get_user_model().objects.create_user("ana", password="correct-horse-battery")
    response = client.post("/login/", {"username": "ana", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_it_refuses_a_user_without_a_role_with_a_friendly_page(client):
    user = get_user_model().objects.create_user("nobody", password="correct-horse-battery")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403
    assert b"needs the viewer role" in response.content


def test_it_logs_out_with_a_post(client):
    client.force_login(factories.make_user("ana", "viewer"))
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


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
    # Every asset is the app's own: no absolute URL to another host. (Not a search for "cdn":
    # the page's random CSRF token contains those three letters now and then.)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert assets
    assert all(url.startswith("/") and not url.startswith("//") for url in assets), assets
    assert not re.search(r"https?://(?!testserver)", html)
    assert client.get("/api/schema/").status_code == 200
