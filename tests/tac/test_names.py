"""Brands and models as people write them, against what the GSMA database says of the TAC."""

from __future__ import annotations

import pytest

from ceir.tac.names import same_brand, same_model

# (stated brand, stated model, GSMA brand, GSMA model, GSMA marketing name)
SAME = [
    ("Redmi", "Note 14 Pro", "Xiaomi", "24115RA8EG", "Redmi Note 14 Pro"),
    ("Xiaomi", "Redmi Note 14 Pro 5G", "Xiaomi", "24115RA8EG", "Redmi Note 14 Pro"),
    ("XIAOMI", "redmi note14 pro", "Xiaomi", "24115RA8EG", "Redmi Note 14 Pro"),
    ("Poco", "X6 Pro", "Xiaomi", "23122PCD1G", "POCO X6 Pro 5G"),
    ("Samsung", "Galaxy S24+", "Samsung", "SM-S926B/DS", "Galaxy S24+"),
    ("Galaxy", "S24 Ultra", "Samsung", "SM-S928B", "Galaxy S24 Ultra"),
    ("samsung", "SM-A155F", "Samsung", "SM-A155F/DSN", "Galaxy A15"),
    ("Apple", "iPhone 15 Pro Max", "Apple", "A3106", "iPhone 15 Pro Max"),
    ("iPhone", "15 Pro Max", "Apple", "A3106", "iPhone 15 Pro Max"),
    ("Honor", "X8b", "Huawei", "LLY-LX1", "HONOR X8b"),
    ("Realme", "C55", "Realme Chongqing Mobile", "RMX3710", "realme C55"),
    ("Tecno", "Spark 20", "TECNO", "KJ5", "TECNO SPARK 20"),
    ("Google", "Pixel 8", "Google", "GKWS6", "Pixel 8"),
    ("Huawei", "Mate 60 Pro", "Huawei", "ALN-AL00", "HUAWEI Mate 60 Pro"),
]
DIFFERENT = [
    ("Apple", "iPhone 15", "Samsung", "SM-S921B", "Galaxy S24"),  # another maker
    ("Xiaomi", "13", "Xiaomi", "23124RN87G", "Redmi 13"),  # Xiaomi 13 is not Redmi 13
    ("Samsung", "Galaxy A55", "Samsung", "SM-S921B", "Galaxy S24"),  # another model
    ("Apple", "iPhone", "Apple", "A3106", "iPhone 15 Pro Max"),  # no model at all
    ("Redmi", "Note 13", "Xiaomi", "24115RA8EG", "Redmi Note 14 Pro"),
]


@pytest.mark.parametrize(("brand", "model", "gsma_brand", "gsma_model", "marketing"), SAME)
def test_names_people_use_match_the_gsma_record(
    brand: str, model: str, gsma_brand: str, gsma_model: str, marketing: str
) -> None:
    assert same_brand(brand, gsma_brand)
    assert same_model(model, [gsma_model, marketing], brand=brand)


@pytest.mark.parametrize(("brand", "model", "gsma_brand", "gsma_model", "marketing"), DIFFERENT)
def test_other_phones_do_not_match(
    brand: str, model: str, gsma_brand: str, gsma_model: str, marketing: str
) -> None:
    assert not (
        same_brand(brand, gsma_brand) and same_model(model, [gsma_model, marketing], brand=brand)
    )
