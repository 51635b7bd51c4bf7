"""django-axes's lockout check, first in ``AUTHENTICATION_BACKENDS``."""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out (username, address) before any backend checks a password.

    Axes raises when ``authenticate`` is called without a request; without one there is no client address to lock
    out (``Client.login`` in tests, a script), and every sign-in over HTTP passes its request, so this backend
    lets such a call through to the others instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
