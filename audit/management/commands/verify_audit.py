import base64
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit import tree
from audit.selectors import tree_heads
from audit.services import head_in_chain, verify_chain


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain and exit non-zero at the first event that was edited, deleted, "
        "inserted or moved. Prints the head hash and the event count when the chain is intact."
    )

    def add_arguments(self, parser):
        parser.add_argument("--export-head", metavar="FILE", help="write the verified head (seq, hash, time) as JSON")
        parser.add_argument(
            "--expect-head", metavar="FILE", help="fail unless the head exported to FILE is in the chain"
        )

    def handle(self, *args, export_head=None, expect_head=None, **options):
        anchor = _read_anchor(Path(expect_head)) if expect_head else None
        report = verify_chain()
        if not report.intact:
            raise CommandError(
                f"audit chain broken at seq {report.broken_seq}: {report.reason} "
                f"({report.count} events verified before it)"
            )
        if anchor and not head_in_chain(seq=anchor["seq"], hash=anchor["hash"]):
            raise CommandError(
                f"anchored head #{anchor['seq']} {anchor['hash']} from {expect_head} is no longer in the chain "
                f"(the chain now ends at #{report.head_seq})"
            )
        self.stdout.write(f"audit chain intact: {report.count} events, head #{report.head_seq} {report.head_hash}")
        if anchor:
            self.stdout.write(f"anchored head #{anchor['seq']} from {expect_head} is in the chain")
        if export_head:
            head = {
                "seq": report.head_seq,
                "hash": report.head_hash,
                "time": report.head_time.isoformat() if report.head_time else None,
                "exported_at": timezone.now().isoformat(),
                # The newest signed Merkle tree head and its key: anchor them elsewhere to prove the log later.
                "tree_head": _signed_head(),
            }
            Path(export_head).write_text(json.dumps(head, indent=2) + "\n")
            self.stdout.write(f"head written to {export_head}")


def _signed_head() -> dict | None:
    latest = tree_heads().first()
    if latest is None:
        return None
    public_key = tree.public_key_bytes()
    return {**tree.head_json(latest), "public_key": base64.b64encode(public_key).decode()}


def _read_anchor(path: Path) -> dict:
    try:
        anchor = json.loads(path.read_text())
    except OSError as exc:
        raise CommandError(f"cannot read the anchored head: {exc}") from None
    except ValueError as exc:
        raise CommandError(f"{path} is not JSON: {exc}") from None
    if not (
        isinstance(anchor, dict)
        and isinstance(anchor.get("seq"), int)
        and not isinstance(anchor["seq"], bool)
        and anchor["seq"] >= 0
        and isinstance(anchor.get("hash"), str)
    ):
        raise CommandError(f'{path} must hold {{"seq": <int >= 0>, "hash": "<sha256 hex>"}} as --export-head writes')
    return anchor
