"""Remove stored files when their rows are deleted, however the deletion happens.

A receiver is the one hook Django offers for rows deleted by a cascade (a user deleted, a
task pruned with its export); the file goes once the deletion commits, so a rolled-back
deletion keeps it.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from documents.models import Document, Export


@receiver(post_delete, sender=Document, dispatch_uid="documents.delete_document_file")
@receiver(post_delete, sender=Export, dispatch_uid="documents.delete_export_file")
def delete_stored_file(sender, instance, **kwargs) -> None:
    if not instance.file:
        return
    storage, name = instance.file.storage, instance.file.name
    transaction.on_commit(lambda: storage.delete(name))
