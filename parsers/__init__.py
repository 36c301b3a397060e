"""Pure parsers: bytes in, frozen dataclasses out; no I/O, nothing of the rest of confere."""

from parsers.body import BodyFields, BodyPatterns
from parsers.body import extract as extract_body_fields
from parsers.boleto import Boleto
from parsers.boleto import parse as parse_boleto_code
from parsers.boleto_pdf import BoletoDocument, parse_boleto_pdf
from parsers.errors import HostileInputError, NotABoletoError, ParseError
from parsers.mime import Attachment, Email, parse_email
from parsers.nfse import Nfse, parse_nfse, parse_nfse_all
from parsers.nfse_pdf import NfsePdf, parse_nfse_pdf
from parsers.pix import PixCode
from parsers.pix import parse as parse_pix

__all__ = [
    "Attachment", "BodyFields", "BodyPatterns", "Boleto", "BoletoDocument", "Email",
    "HostileInputError", "Nfse", "NfsePdf", "NotABoletoError", "ParseError", "PixCode",
    "extract_body_fields", "parse_boleto_code", "parse_boleto_pdf", "parse_email",
    "parse_nfse", "parse_nfse_all", "parse_nfse_pdf", "parse_pix",
]
