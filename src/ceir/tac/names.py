"""Whether a brand and model as people name a phone agree with what the GSMA says of its TAC.

People write the sub-brand on the box («Redmi», «Poco», «Galaxy»), leave out the maker or add it,
mix case and spacing, write «+» for «Plus» and add «5G» or «Dual SIM»; the GSMA database has the
maker's name and a model code or a marketing name. Both sides are brought to the same words first.
"""

from __future__ import annotations

import re

# Sub-brands and product lines, by the maker the GSMA files them under.
FAMILIES: dict[str, tuple[str, ...]] = {
    "xiaomi": ("xiaomi", "redmi", "poco", "mi", "blackshark"),
    "apple": ("apple", "iphone"),
    "samsung": ("samsung", "galaxy"),
    "huawei": ("huawei", "honor"),
    "honor": ("honor",),
    "oppo": ("oppo", "realme", "oneplus"),
    "realme": ("realme",),
    "oneplus": ("oneplus",),
    "vivo": ("vivo", "iqoo"),
    "google": ("google", "pixel"),
    "transsion": ("transsion", "tecno", "infinix", "itel"),
    "tecno": ("tecno",),
    "infinix": ("infinix",),
    "motorola": ("motorola", "moto", "lenovo"),
    "lenovo": ("lenovo", "motorola", "moto"),
    "nokia": ("nokia", "hmd"),
    "hmd": ("hmd", "nokia"),
    "sony": ("sony", "xperia"),
}
# Words that say nothing of which model it is.
NOISE = ("5g", "4g", "lte", "nfc", "dualsim", "ds", "global", "version", "smartphone")
_SEPARATORS = re.compile(r"[,/;|]| or ")


def words(text: str | None) -> list[str]:
    """Lower-case words of letters or digits, «+» read as «plus», no spaces inside a word."""
    text = (text or "").casefold().replace("+", " plus ")
    text = re.sub(r"dual\s*sim", "dualsim", text)
    # «Note14Pro» and «Note 14 Pro» are the same name: letters and digits split apart.
    text = re.sub(r"(?<=[a-zа-яё])(?=\d)|(?<=\d)(?=[a-zа-яё])", " ", text)
    return re.findall(r"[0-9a-zа-яёәғқңөұүһі]+", text)


def _maker_of(word: str) -> set[str]:
    return {maker for maker, lines in FAMILIES.items() if word in lines} or {word}


def same_brand(stated: str | None, known: str | None) -> bool:
    """«Redmi» for Xiaomi, «Galaxy» for Samsung, «Xiaomi Communications» for Xiaomi."""
    stated_words, known_words = words(stated), words(known)
    if not stated_words or not known_words:
        return False
    makers = set().union(*(_maker_of(w) for w in known_words))
    return any(_maker_of(w) & makers for w in stated_words)


def _core(text: str | None) -> str:
    """The name without makers' names and noise: sub-brands stay («Redmi 13» is no «Xiaomi 13»)."""
    return "".join(w for w in words(text) if w not in NOISE and w not in FAMILIES)


def same_model(stated: str | None, names: list[str | None], brand: str | None = None) -> bool:
    """The stated model (alone, or after the stated brand: «Redmi» + «Note 14 Pro») is one of the
    GSMA's names for the TAC, a model code or a marketing name, case, spacing, makers' names and
    noise words left out on both sides."""
    wanted = {_core(stated), _core(f"{brand or ''} {stated or ''}")} - {""}
    for name in names:
        for part in _SEPARATORS.split(name or ""):
            known = _core(part)
            if known and any(_agree(w, known) for w in wanted):
                return True
    return False


def _agree(wanted: str, known: str) -> bool:
    # One may hold the other («Redmi Note 14 Pro» of a «… Pro 5G» box, a model code without its
    # region suffix), but not by a word or two: the shorter has at least three characters, and
    # the model's number when it has one («iPhone» alone is no model).
    shorter, longer = sorted((wanted, known), key=len)
    numbered = any(c.isdigit() for c in shorter) or not any(c.isdigit() for c in longer)
    return wanted == known or (len(shorter) >= 3 and numbered and shorter in longer)
