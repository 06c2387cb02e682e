"""``goldentime data fetch egen``: the national list from the E-Gen OpenAPI, offline (the GET is faked)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from goldentime import egen_list
from goldentime.egen_list import COLUMNS, FetchError, fetch_institutions, write_csv
from tests.helpers import run_cli

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _item(hpid: str, name: str, kind: str, addr: str, lat: str = "37.57", lon: str = "126.99") -> str:
    return (
        f"<item><hpid>{hpid}</hpid><dutyName>{name}</dutyName><dutyEmclsName>{kind}</dutyEmclsName>"
        f"<dutyAddr>{addr}</dutyAddr><wgs84Lat>{lat}</wgs84Lat><wgs84Lon>{lon}</wgs84Lon>"
        f"<dutyTel3>02-0000-0000</dutyTel3></item>"
    )


def _page(items: list[str], total: int) -> bytes:
    return (
        "<response><header><resultCode>00</resultCode><resultMsg>NORMAL SERVICE.</resultMsg></header>"
        f"<body><items>{''.join(items)}</items><numOfRows>2</numOfRows><totalCount>{total}</totalCount></body>"
        "</response>"
    ).encode()


LIST = [
    _item("A1100010", "서울대학교병원", "권역응급의료센터", "서울특별시 종로구 대학로 101 (연건동)"),
    _item("A1100001", "강북삼성병원", "지역응급의료센터", "서울특별시 종로구 새문안로 29"),
    _item("A1500002", "전남대학교병원", "권역응급의료센터", "전남광주통합특별시 동구 제봉로 42", "35.14", "126.92"),
    _item("A1500099", "좌표없는병원", "지역응급의료기관", "전남광주통합특별시 북구 어딘가 1", "", ""),
]


def _server(pages: int = 2) -> tuple[list[str], Callable[[str], bytes]]:
    """A fake E-Gen: the institution list in pages of two, one trauma centre."""
    asked: list[str] = []
    per_page = -(-len(LIST) // pages)

    def get(url: str) -> bytes:
        asked.append(url)
        query = parse_qs(urlsplit(url).query)
        assert query["serviceKey"] == ["k+ey/1="]
        operation = urlsplit(url).path.rsplit("/", 1)[-1]
        if operation == egen_list.TRAUMA_OPERATION:
            return _page(["<item><hpid>A1500002</hpid><dutyName>전남대학교병원</dutyName></item>"], 1)
        page = int(query["pageNo"][0])
        return _page(LIST[(page - 1) * per_page : page * per_page], len(LIST))

    return asked, get


def test_every_page_is_read_into_the_bundled_lists_columns() -> None:
    asked, get = _server(pages=2)
    rows, skipped = fetch_institutions(get, "k+ey/1=", now=NOW)
    assert [r["hpid"] for r in rows] == ["A1100001", "A1100010", "A1500002"] and skipped == 1
    assert sum(egen_list.LIST_OPERATION in url for url in asked) == 2  # both pages, then stop at totalCount
    snu = rows[1]
    assert (snu["level"], snu["sido"], snu["sigungu"]) == ("1", "서울특별시", "종로구")
    assert snu["regional_trauma_center"] == "N"
    assert rows[2]["regional_trauma_center"] == "Y" and rows[2]["sido"] == "전남광주통합특별시"
    assert rows[0]["level"] == "2" and snu["retrieved_at_utc"] == NOW.isoformat()


def test_the_written_file_has_the_same_header_as_the_bundled_list(tmp_path: Path) -> None:
    from goldentime.settings import default_data_dir

    _, get = _server()
    rows, _ = fetch_institutions(get, "k+ey/1=", now=NOW)
    out = tmp_path / "hospitals" / "korea.csv"
    write_csv(rows, out)
    with (
        out.open(encoding="utf-8", newline="") as fresh,
        (default_data_dir() / "hospitals" / "korea_emergency_institutions.csv").open(
            encoding="utf-8", newline=""
        ) as bundled,
    ):
        assert next(csv.reader(fresh)) == next(csv.reader(bundled)) == list(COLUMNS)
    assert not list(tmp_path.glob("hospitals/*.partial"))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            b"<OpenAPI_ServiceResponse><cmmMsgHeader><returnReasonCode>30</returnReasonCode>"
            b"<returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg></cmmMsgHeader></OpenAPI_ServiceResponse>",
            "returnReasonCode 30 (SERVICE_KEY_IS_NOT_REGISTERED_ERROR)",
        ),
        (b"<response><header><resultCode>99</resultCode><resultMsg>LIMITED</resultMsg></header></response>", "99"),
        (b"<html>gateway</html>", "not an E-Gen response"),
        (b"<response", "not XML"),
    ],
)
def test_an_error_answer_is_said_not_written(answer: bytes, words: str) -> None:
    with pytest.raises(FetchError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fetch_institutions(lambda url: answer, "key")


def test_the_command_needs_a_key_and_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOLDENTIME_EGEN_SERVICE_KEY", raising=False)
    code, _, err = run_cli(capsys, "data", "fetch", "egen", "--out", str(tmp_path / "k.csv"))
    assert code == 2 and err.count("\n") == 1 and "GOLDENTIME_EGEN_SERVICE_KEY" in err


def test_the_command_writes_the_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import urllib.request

    _, get = _server()

    class Answer:
        def __init__(self, url: str) -> None:
            self.body = get(url)

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> bytes:
            return self.body

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Answer(url))
    monkeypatch.setenv("GOLDENTIME_EGEN_SERVICE_KEY", "k+ey/1=")
    out = tmp_path / "korea.csv"
    code, text, err = run_cli(capsys, "data", "fetch", "egen", "--out", str(out))
    assert code == 0, err
    assert "3 institutions (1 items without an hpid or coordinates left out)" in text
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    code, _, err = run_cli(capsys, "data", "fetch", "egen", "--out", str(out))
    assert code == 2 and "exists" in err
