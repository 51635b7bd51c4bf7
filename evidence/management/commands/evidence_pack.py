"""``manage.py evidence_pack NAME VERSION -o FILE``: a version's evidence pack as .zip, .pdf, .json or .html."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evidence import documents
from evidence.pack import build_pack
from registry.models import ModelVersion


class Command(BaseCommand):
    help = "Write a model version's evidence pack; the file's extension says which kind (.zip, .pdf, .json, .html)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("version", type=int)
        parser.add_argument("-o", "--output", required=True, type=Path)

    def handle(self, *args, name, version, output, **options):
        suffix = output.suffix.lower()
        if suffix not in documents.FORMATS:
            raise CommandError(f"-o must end in one of {', '.join(documents.FORMATS)}, not {output.name!r}")
        model_version = (
            ModelVersion.objects.select_related("model", "run", "logged_model")
            .filter(model__name=name, version=version)
            .first()
        )
        if model_version is None:
            raise CommandError(f"no version {version} of a model named {name!r} in the mirror")
        pack = build_pack(model_version)
        output.write_bytes(documents.render(pack, suffix))
        self.stdout.write(f"{output}: {pack['audit']['event_count']} audit events, {output.stat().st_size:,} bytes")
