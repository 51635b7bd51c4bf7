"""Settings for the test run: the production settings (DEBUG off) with a test-only key, over plain HTTP.

The values go into the environment before ``registry_portal.settings`` reads it, so the processes the tests
start (Celery workers, ``manage.py`` subprocesses) get them too. The test client and ``live_server`` speak
http://, so the HTTPS redirect and secure-only cookies are off here; ``registry/tests/test_security_settings.py``
runs ``check --deploy`` on the real defaults.
"""

import os

TEST_ENVIRONMENT = {
    "SECRET_KEY": "test-suite-only-secret-key-" + "0123456789abcdefghijklmnopqrstuvwxyz",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}
for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

from registry_portal.settings import *  # noqa: E402, F403
