import pytest

from backend.domain.errors import InvalidValue
from backend.domain.text_search import TextQuery, index_tokens, normalize, words


def test_normalization_folds_width_and_case():
    assert normalize("ＨＡＥＤＯＮＧ Temple") == "haedong temple"


def test_words_split_on_anything_that_is_not_a_letter_or_digit():
    assert words(normalize("해동용궁사 (Haedong-Yonggungsa), 2024")) == [
        "해동용궁사",
        "haedong",
        "yonggungsa",
        "2024",
    ]


def test_index_holds_every_one_two_and_three_gram_of_each_word():
    tokens = set(index_tokens(["용궁사"]))
    assert tokens == {"용", "궁", "사", "용궁", "궁사", "용궁사"}


@pytest.mark.parametrize(
    ("query", "tokens"),
    [("궁", ["궁"]), ("용궁", ["용궁"]), ("해동용궁", ["동용궁", "해동용"])],
)
def test_query_words_use_trigrams_or_themselves_when_shorter(query, tokens):
    assert TextQuery.parse("text", query).index_tokens() == tokens


def test_every_query_token_is_in_the_index_of_a_text_containing_the_query():
    indexed = set(index_tokens(["부산 기장군 해동용궁사"]))
    for query in ["해동", "용궁사", "기장", "궁"]:
        assert set(TextQuery.parse("text", query).index_tokens()) <= indexed


@pytest.mark.parametrize("query", ["", "  ", "!!!", "x" * 101])
def test_empty_or_oversized_queries_are_rejected(query):
    with pytest.raises(InvalidValue) as caught:
        TextQuery.parse("filter.text", query)
    assert caught.value.field == "filter.text"
