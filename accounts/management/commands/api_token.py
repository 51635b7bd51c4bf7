import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.access import COMMAND_LINE
from accounts.forms import MAX_EXPIRY_DAYS
from accounts.selectors import tokens_of
from accounts.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create a personal API token for a user (the secret is printed once), or revoke one by its prefix."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token; prints the secret once")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="what will use it, e.g. the training pipeline")
        create.add_argument("--expires-days", type=int, help="days until it expires (default: never)")
        revoke = actions.add_parser("revoke", help="revoke a token by the prefix its owner's token list shows")
        revoke.add_argument("username")
        revoke.add_argument("--prefix", required=True)

    def handle(self, *args, action, username, **options):
        user = _user(username)
        if action == "create":
            self._create(user, options["name"], options["expires_days"])
        else:
            self._revoke(user, options["prefix"])

    def _create(self, user, name: str, days: int | None):
        if days is not None and not 1 <= days <= MAX_EXPIRY_DAYS:
            raise CommandError(f"--expires-days must be between 1 and {MAX_EXPIRY_DAYS}")
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            token, secret = api_token_create(actor=COMMAND_LINE, user=user, name=name, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(secret)
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
        self.stderr.write(
            f"token {token.name!r} ({token.prefix}…) for {user.get_username()}, {expiry}; "
            "the secret above is not shown again"
        )

    def _revoke(self, user, prefix: str):
        matches = list(tokens_of(user).filter(prefix=prefix, revoked_at__isnull=True))
        if not matches:
            raise CommandError(f"{user.get_username()} has no active token with prefix {prefix!r}")
        if len(matches) > 1:
            raise CommandError(
                f"{len(matches)} active tokens of {user.get_username()} start with {prefix!r}: "
                "revoke them on the My tokens page"
            )
        token = api_token_revoke(actor=COMMAND_LINE, token=matches[0])
        self.stdout.write(f"revoked token {token.name!r} ({token.prefix}…) of {user.get_username()}")


def _user(username: str):
    try:
        return get_user_model().objects.get_by_natural_key(username)
    except get_user_model().DoesNotExist:
        raise CommandError(f"no user named {username!r}") from None
