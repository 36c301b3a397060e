"""Pure parsers: bytes in, frozen dataclasses out; no I/O, nothing of the rest of confere."""

from .body import BodyFields, BodyPatterns
from .body import extract as extract_body_fields
from .boleto import Boleto
from .boleto import parse as parse_boleto_code
from .boleto_pdf import BoletoDocument, parse_boleto_pdf
from .errors import HostileInputError, NotABoletoError, ParseError
from .mime import Attachment, Email, parse_email
from .nfse import Nfse, parse_nfse, parse_nfse_all
from .nfse_pdf import NfsePdf, parse_nfse_pdf
from .pix import PixCode
from .pix import parse as parse_pix

__all__ = [
    "Attachment", "BodyFields", "BodyPatterns", "Boleto", "BoletoDocument", "Email",
    "HostileInputError", "Nfse", "NfsePdf", "NotABoletoError", "ParseError", "PixCode",
    "extract_body_fields", "parse_boleto_code", "parse_boleto_pdf", "parse_email",
    "parse_nfse", "parse_nfse_all", "parse_nfse_pdf", "parse_pix",
]
