from . import selectors


def reviews_waiting(request):
    """How many requests wait for the user's review (the nav badge), lazily: pages that never show it
    cost no query."""
    return {"reviews_waiting": lambda: selectors.waiting_count(request.user)}
