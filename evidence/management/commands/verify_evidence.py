"""``manage.py verify_evidence FILE``: the offline verifier (``evidence/verify_evidence.py``), run by the portal."""

from django.core.management.base import BaseCommand, CommandError

from evidence import verify_evidence


class Command(BaseCommand):
    help = "Verify an evidence pack (.zip or pack.json): event hashes, inclusion proofs, the head's signature."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--public-key", help="the log's Ed25519 public key file (base64) to check against")

    def handle(self, *args, file, public_key, **options):
        argv = [file] + (["--public-key", public_key] if public_key else [])
        status = verify_evidence.main(argv, out=self.stdout)
        if status:
            raise CommandError("the evidence pack does not verify" if status == 1 else "not an evidence pack")
