"""The JSON answer from kept parts is, byte for byte, the answer model's JSON, from either path."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ceir.check import answers
from ceir.check.answers import answer_model, render
from ceir.check.service import check_imei
from ceir.config import Settings
from ceir.db import read_engine
from ceir.web.app import create_app
from tests.check.test_memory_check import NOW, devices_in_every_state, imei, memory_check
from tests.factories import register_device

LANGUAGES = ("ru", "kk", "en")


def test_every_verdict_renders_as_the_model_from_memory_and_from_the_database(
    engine: Engine, db_session: Session
) -> None:
    queries = devices_in_every_state(db_session)
    # Same kind of answer as "registered" (same day in Almaty), another IMEI and moment: its
    # answer is joined from the parts the first one left.
    later_same_day = imei(50)
    register_device(db_session, [later_same_day], registered_at=NOW + dt.timedelta(hours=3))
    db_session.commit()
    queries["registered later that day"] = later_same_day
    memory = memory_check(engine)

    with read_engine(engine).connect() as conn:
        memory.poll(conn)
        for _round in range(2):  # the first renders and keeps, the second joins kept parts
            for case, query in queries.items():
                for result in (check_imei(conn, query), memory.check(conn, query)):
                    for lang in LANGUAGES:
                        expected = answer_model(result, lang).model_dump_json().encode()
                        assert render(result, lang) == expected, (case, lang)
                        if result.imei is not None:  # and it was joined from kept parts
                            kind = answers._kind(result, lang)
                            assert answers._kept[kind] is not None, (case, lang)


@pytest.mark.parametrize(
    ("how", "lang"),
    [
        ("query", "kk"),
        ("cookie", "en"),
        ("accept-language", "kk"),
        ("accept-language", "en"),
        ("none", "ru"),
    ],
)
def test_json_from_memory_is_the_database_answer_byte_for_byte(
    settings: Settings, engine: Engine, db_session: Session, how: str, lang: str
) -> None:
    queries = devices_in_every_state(db_session)
    from_memory = create_app(settings, engine)
    from_memory.state.check_memory.rebuild()
    from_database = create_app(settings.model_copy(update={"check_from_memory": False}), engine)
    headers = {"accept-language": f"de-DE, {lang};q=0.8"} if how == "accept-language" else {}
    cookies = {"lang": lang} if how == "cookie" else {}
    suffix = f"?lang={lang}" if how == "query" else ""

    for case, query in queries.items():
        path = f"/api/v1/imei/{query}{suffix}"
        answers = [
            TestClient(app, cookies=cookies).get(path, headers=headers)
            for app in (from_memory, from_database)
        ]
        assert answers[0].status_code == answers[1].status_code == 200, case
        assert answers[0].content == answers[1].content, case
        assert answers[0].headers.items() == answers[1].headers.items(), case
        assert answers[0].json()["language"] == lang, case
