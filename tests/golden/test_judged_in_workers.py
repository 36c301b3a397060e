"""Bills are judged offline in the parse workers; what needs the store is judged at write time."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from pipeline.config import settings as config_mod
from storage import open_store
from storage.desk_models import LearnedBank

from conftest import FIXTURES, cases, json_lines, run_cli


def _bank_check(line: dict) -> dict:
    return next(c for c in line["invoice"]["checks"] if c["name"] == "boleto.bank_allowed")


@pytest.mark.slow
def test_a_bank_a_person_confirmed_vouches_for_the_next_bill(demo_config):
    # No banks configured: the workers cannot know the store's learned banks, the writer must.
    text = demo_config.read_text("utf-8").replace('banks = ["001"]', "banks = []")
    demo_config.write_text(text, "utf-8")
    first, second = (str(FIXTURES / c["file"]) for c in cases("genuine")[:2])
    [line] = json_lines(run_cli("ingest", "--json", "--config", str(demo_config), first).stdout)
    assert _bank_check(line)["outcome"] == "unknown"
    bank = line["invoice"]["boleto"]["bank_code"]
    engine = open_store(config_mod.load(demo_config).database_url)
    with Session(engine) as s:
        s.add(LearnedBank(vendor="serpro", bank_code=bank, learned_by="finance@example.com.br"))
        s.commit()
    engine.dispose()
    [line] = json_lines(run_cli("ingest", "--json", "--config", str(demo_config), second).stdout)
    check = _bank_check(line)
    assert check["outcome"] == "pass" and "seen on" in check["detail"]


@pytest.mark.slow
def test_signer_chain_is_judged_the_same_in_the_workers(demo_config):
    # The genuine fixtures' notes are signed by the provider under the trusted test PKI.
    files = [str(FIXTURES / c["file"]) for c in cases("genuine")]
    for line in json_lines(run_cli("ingest", "--json", "--config", str(demo_config),
                                   *files).stdout):
        signature = next(c for c in line["invoice"]["checks"] if c["name"] == "nfse.signature")
        if line["invoice"]["nfse"]["layout"] != "pdf":
            assert signature["outcome"] == "pass", signature
            assert "signed as" in signature["detail"]
