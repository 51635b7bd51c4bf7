from django.db import models


class Heartbeat(models.Model):
    """When a worker last ran the beat-scheduled heartbeat task: ``/readyz`` reads it to know the queue moves.

    One row per ``name`` (the task writes ``"worker"``). Not audited: it is operational state rewritten every few
    seconds, not something anyone decided.
    """

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField()
    hostname = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
