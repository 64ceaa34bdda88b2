"""Domain exceptions raised by the document engines.

Every refusal of a document is a ``DocumentRejected`` carrying a human message and a short,
stable ``code``; interfaces map the hierarchy once to HTTP responses or task failures.
"""

from __future__ import annotations


class DocumentRejected(Exception):
    """A document cannot be processed; ``message`` says why, ``code`` names the reason."""

    code: str = "rejected"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class UnsupportedDocumentType(DocumentRejected):
    """The content is not one of the formats the extractors understand."""

    code = "unsupported_type"


class NoTextLayer(DocumentRejected):
    """A PDF holds no extractable text, typically a scan that needs OCR first."""

    code = "no_text_layer"


class EmptyDocument(DocumentRejected):
    """The document was read but contains no text."""

    code = "empty_document"


class UnreadableDocument(DocumentRejected):
    """The document claims a supported format but is damaged or malformed."""

    code = "unreadable"


class EncryptedDocument(DocumentRejected):
    """The document is password-protected and cannot be read."""

    code = "encrypted"


class DocumentTooLarge(DocumentRejected):
    """The document exceeds a configured size limit."""

    code = "too_large"


class UnsafeArchive(DocumentRejected):
    """A ZIP archive is malformed or dangerous to extract (zip-slip, bomb, symlink...)."""

    code = "unsafe_archive"
