import pytest

from backend.domain.errors import InvalidValue
from backend.domain.i18n import Locale, LocalizedText, fallback_chain, parse_accept_language


def test_the_requested_language_is_served_when_present():
    text = LocalizedText.of(
        "name", {"ko": "해동용궁사", "en": "Haedong Yonggungsa", "ja": "海東龍宮寺"}
    )
    resolved = text.resolve(Locale.JA, (Locale.KO, Locale.EN))
    assert (resolved.text, resolved.locale) == ("海東龍宮寺", Locale.JA)


def test_a_missing_language_falls_back_to_the_region_defaults_in_order():
    text = LocalizedText.of("name", {"en": "Gokseong", "zh": "谷城"})
    assert text.resolve(Locale.JA, (Locale.EN, Locale.KO)).locale is Locale.EN


def test_without_region_defaults_the_global_order_is_ko_en_ja_zh():
    assert fallback_chain(None) == [Locale.KO, Locale.EN, Locale.JA, Locale.ZH]
    text = LocalizedText.of("name", {"ja": "南海", "zh": "南海郡"})
    assert text.resolve(None).locale is Locale.JA


def test_each_language_appears_once_in_the_chain():
    chain = fallback_chain(Locale.EN, (Locale.EN, Locale.KO))
    assert chain == [Locale.EN, Locale.KO, Locale.JA, Locale.ZH]


@pytest.mark.parametrize(
    ("values", "field"),
    [({}, "name"), ({"fr": "Bonjour"}, "name.fr"), ({"ko": "   "}, "name.ko")],
)
def test_empty_blank_or_unknown_language_text_is_rejected(values, field):
    with pytest.raises(InvalidValue) as caught:
        LocalizedText.of("name", values)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.8", Locale.JA),
        ("fr-FR,fr;q=0.9,en;q=0.5,ko;q=0.7", Locale.KO),
        ("zh-TW", Locale.ZH),
        ("fr, de", None),
        ("en;q=0, ko;q=0.1", Locale.KO),
        ("garbage;;;q=x, en", Locale.EN),
        (None, None),
    ],
)
def test_accept_language_picks_the_most_preferred_supported_language(header, expected):
    assert parse_accept_language(header) is expected
