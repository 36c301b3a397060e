"""Stand-in ISSNet (SOAP) and national NFS-e (REST) servers: HTTPS on loopback, client certs."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree

from harness import logs

ABRASF_NS = "http://www.abrasf.org.br/nfse.xsd"
P12_PASSWORD = "test-only-p12-password"
PASSWORD_ENV = "CONFERE_TEST_P12_PASSWORD"
MODES = ("normal", "not_found", "different_amount", "fault", "503", "hang")


@dataclass(frozen=True)
class Pki:
    """Files of the throwaway PKI made for one test session."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_p12: Path
    rogue_p12: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "confere stand-in"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
          *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """A test CA, a server certificate for 127.0.0.1, our client's e-CNPJ and a rogue one."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, rogue_ca_key = _key(), _key()
    ca = _cert("confere stand-in CA", ca_key, _name("confere stand-in CA"), ca_key, ca=True)
    rogue_ca = _cert("rogue CA", rogue_ca_key, _name("rogue CA"), rogue_ca_key, ca=True)
    server_key, client_key, rogue_key = _key(), _key(), _key()
    server = _cert("127.0.0.1", server_key, ca.subject, ca_key, server=True)
    client = _cert("CONTABILIDADE EXEMPLO LTDA:12345678000195", client_key, ca.subject, ca_key)
    rogue = _cert("CONTABILIDADE EXEMPLO LTDA:12345678000195", rogue_key, rogue_ca.subject,
                  rogue_ca_key)
    pem = serialization.Encoding.PEM
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key",
              folder / "client.p12", folder / "rogue.p12")
    pki.ca.write_bytes(ca.public_bytes(pem))
    pki.server_cert.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    pki.server_key.write_bytes(server_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    enc = serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    pki.client_p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"empresa", client_key, client, [ca], enc))
    pki.rogue_p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"rogue", rogue_key, rogue, [rogue_ca], enc))
    return pki


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def comp_nfse(xml: bytes) -> bytes:
    """The CompNfse element of an ABRASF fixture (bare, namespaced or SOAP-wrapped)."""
    root = etree.fromstring(xml)
    comp = next(el for el in root.iter() if _local(el.tag) == "CompNfse")
    return etree.tostring(comp, encoding="utf-8")


def with_amount(xml: bytes, tags: tuple[str, ...], value: str) -> bytes:
    """The same note with the amounts under `tags` set to `value` (the issuer's other record)."""
    root = etree.fromstring(xml)
    for el in root.iter():
        if _local(el.tag) in tags:
            el.text = value
    return etree.tostring(copy.deepcopy(root), encoding="utf-8")


@dataclass
class State:
    """What the stand-ins hold and how they misbehave; tests change it between calls."""

    abrasf: dict[str, bytes] = field(default_factory=dict)  # number -> CompNfse
    national: dict[str, bytes] = field(default_factory=dict)  # access key -> NFSe XML
    mode: str = "normal"
    filler_pages: int = 0
    hang_seconds: float = 10.0
    requests: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # the HTTP access log (failure reports)
    stop: threading.Event = field(default_factory=threading.Event)


def _soap(body: str, status: int = 200) -> tuple[int, str, bytes]:
    env = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
           f'"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{body}</soap:Body>'
           "</soap:Envelope>")
    return status, "text/xml; charset=utf-8", env.encode()


def _answer(inner: str) -> tuple[int, str, bytes]:
    return _soap('<ConsultarNfseServicoTomadoResponse xmlns="http://nfse.abrasf.org.br">'
                 f"<outputXML>{escape(inner)}</outputXML></ConsultarNfseServicoTomadoResponse>")


def _lista(comps: list[bytes], next_page: int | None) -> str:
    nxt = f"<ProximaPagina>{next_page}</ProximaPagina>" if next_page else ""
    body = "".join(c.decode() for c in comps)
    return (f'<ConsultarNfseServicoTomadoResposta xmlns="{ABRASF_NS}"><ListaNfse>{body}{nxt}'
            "</ListaNfse></ConsultarNfseServicoTomadoResposta>")


def _mensagem(code: str, text: str) -> str:
    return (f'<ConsultarNfseServicoTomadoResposta xmlns="{ABRASF_NS}"><ListaMensagemRetorno>'
            f"<MensagemRetorno><Codigo>{code}</Codigo><Mensagem>{escape(text)}</Mensagem>"
            "</MensagemRetorno></ListaMensagemRetorno></ConsultarNfseServicoTomadoResposta>")


def issnet_reply(state: State, body: bytes) -> tuple[int, str, bytes]:
    """ConsultarNfseServicoTomado as ISSNet answers it, or as it fails on demand."""
    if state.mode == "fault":
        return _soap("<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Erro interno "
                     "no servidor</faultstring></soap:Fault>", 500)
    env = etree.fromstring(body)
    dados = next((el.text for el in env.iter() if _local(el.tag) == "nfseDadosMsg"), None)
    pedido = etree.fromstring((dados or "").encode())
    fields = {_local(el.tag): (el.text or "").strip() for el in pedido.iter()}
    if "Consulente" not in fields or "Cnpj" not in fields:
        return _answer(_mensagem("E1", "Consulente nao informado"))
    number, page = fields.get("NumeroNfse", ""), int(fields.get("Pagina") or 1)
    comp = state.abrasf.get(number.lstrip("0"))
    if state.mode == "not_found" or comp is None:
        return _answer(_mensagem("E180", "Nenhuma NFS-e encontrada para os filtros informados"))
    if page <= state.filler_pages:
        filler = with_amount(comp, ("Numero",), "999999")
        return _answer(_lista([filler], page + 1))
    if state.mode == "different_amount":
        comp = with_amount(comp, ("ValorServicos", "ValorLiquidoNfse", "BaseCalculo"), "99999.99")
    return _answer(_lista([comp], None))


def sefin_reply(state: State, path: str) -> tuple[int, str, bytes]:
    """GET /nfse/{chave} as the national API answers it."""
    key = path.rsplit("/", 1)[-1]
    xml = state.national.get(key)
    if state.mode == "fault":
        return 500, "application/json", b'{"erro": "erro interno"}'
    if state.mode == "not_found" or xml is None:
        body = {"erros": [{"codigo": "E404", "descricao": "NFS-e nao encontrada"}]}
        return 404, "application/json", json.dumps(body).encode()
    if state.mode == "different_amount":
        xml = with_amount(xml, ("vServ", "vLiq"), "99999.99")
    packed = base64.b64encode(gzip.compress(xml)).decode()
    return 200, "application/json", json.dumps({"nfseXmlGZipB64": packed}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep the access log for failure reports instead of writing it to stderr."""
        self.server.state.log.append(f"{self.address_string()} {format % args}")

    def _serve(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        peer = self.connection.getpeercert() or {}
        cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
        state.requests.append({"method": method, "path": self.path, "client": cn,
                               "soapaction": self.headers.get("SOAPAction"), "body": body})
        if state.mode == "hang":
            state.stop.wait(state.hang_seconds)
            return
        if state.mode == "503":
            status, ctype, out = 503, "text/html", b"<h1>503 Service Unavailable</h1>"
        elif method == "POST" and self.path.endswith("/nfse.asmx"):
            status, ctype, out = issnet_reply(state, body)
        elif method == "GET" and re.search(r"/nfse/\w+$", self.path):
            status, ctype, out = sefin_reply(state, self.path)
        else:
            status, ctype, out = 404, "text/plain", b"not here"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State


class StandIn:
    """Both stand-ins on one HTTPS port of 127.0.0.1, requiring a client certificate."""

    def __init__(self, pki: Pki, state: State | None = None) -> None:
        self.state = state or State()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.state = self.state
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        ctx.load_verify_locations(cafile=pki.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        # serve_forever looks for shutdown() every poll_interval: 0.5 s by default, at each stop
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.02}, daemon=True)

    @property
    def issnet_url(self) -> str:
        """The ISSNet web service endpoint."""
        return f"https://127.0.0.1:{self.port}/webservicenfse204/nfse.asmx"

    @property
    def sefin_url(self) -> str:
        """The national API's base URL."""
        return f"https://127.0.0.1:{self.port}/SefinNacional"

    def __enter__(self) -> StandIn:
        logs.register(f"issuer stand-in :{self.port}", lambda: "\n".join(self.state.log))
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        logs.unregister(f"issuer stand-in :{self.port}")
        self.state.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def load_fixture_notes(state: State) -> State:
    """Every genuine sample note, as the issuers hold it (ABRASF by number, national by key)."""
    from parsers import parse_nfse

    for path in sorted((FIXTURES / "documents").glob("genuine-*.nfse.xml")):
        xml = path.read_bytes()
        note = parse_nfse(xml)
        if note.layout.startswith("nacional"):
            state.national[note.access_key or ""] = xml
        else:
            state.abrasf[note.number.lstrip("0")] = comp_nfse(xml)
    return state


def authenticity_toml(pki: Pki, server: StandIn | None, *, p12: Path | None = None,
                      **extra: object) -> str:
    """[authenticity] keys pointing at the stand-ins with our test certificate (no header:
    they follow DEMO_CONFIG, which ends in its [authenticity] table)."""
    values: dict[str, object] = {
        "pkcs12": str(p12 or pki.client_p12), "password_env": PASSWORD_ENV,
        "ca_bundle": str(pki.ca), "retries": 2, "backoff": 0, "min_interval": 0,
        "recheck_after": 0, "timeout": 5, "connect_timeout": 5,
    }
    if server is not None:
        values.update(issnet_url=server.issnet_url, sefin_url=server.sefin_url)
    values.update(extra)
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
