import pytest

from .oidc_provider import running_provider


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID Connect provider (oidc-provider-mock) on 127.0.0.1 for the session."""
    with running_provider() as provider:
        yield provider


@pytest.fixture
def sso(oidc_provider, settings):
    """Single sign-on on, pointed at ``oidc_provider``, local accounts still on."""
    oidc_provider.configure(settings)
    return oidc_provider
