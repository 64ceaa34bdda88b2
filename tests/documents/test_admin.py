"""The documents admin pages render for staff with a bounded number of queries."""

import pytest

from documents import services
from documents.models import DocumentSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_documents(client, django_user_model, user):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw")
    for number in range(5):
        services.document_ingest(
            owner_id=user.pk,
            data=f"Document {number}: the lender and the borrower.".encode(),
            filename=f"{number}.txt",
            options=services.ProcessOptions(),
            source=DocumentSource.UPLOAD,
        )
    client.force_login(admin)
    return client


def test_document_changelist_queries_are_bounded(
    admin_client_with_documents, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = admin_client_with_documents.get("/admin/documents/document/")
    assert response.status_code == 200
    assert response.content.count(b"/admin/documents/document/") >= 5


def test_document_change_and_chunk_pages_render(admin_client_with_documents):
    from documents.models import Chunk, Document

    document = Document.objects.first()
    assert (
        admin_client_with_documents.get(
            f"/admin/documents/document/{document.pk}/change/"
        ).status_code
        == 200
    )
    chunk = Chunk.objects.filter(document=document).first()
    response = admin_client_with_documents.get(
        f"/admin/documents/chunk/?document__id__exact={document.pk}"
    )
    assert response.status_code == 200
    assert (
        admin_client_with_documents.get(f"/admin/documents/chunk/{chunk.pk}/change/").status_code
        == 200
    )
