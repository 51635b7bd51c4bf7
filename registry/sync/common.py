"""What every module of the sync shares: the audit actor it writes as, and its logger."""

import logging

# The package's name ("registry.sync"), as the one module had: one logger for every part of the sync.
logger = logging.getLogger(__package__)
ACTOR = "system:sync"
