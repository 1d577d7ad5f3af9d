"""Misspelt words read as the words they mean, by the speller and inside the trained model."""

from __future__ import annotations

import pytest

from bot.nlu.client import InProcessNlu
from bot.nlu.spelling import Speller, shared_speller


@pytest.fixture(scope="module")
def speller() -> Speller:
    return shared_speller()


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("teecher", "teacher"),
        ("ignorng", "ignoring"),
        ("facebok", "facebook"),
        ("whatsap", "whatsapp"),
        ("complant", "complaint"),
        ("nativty", "nativity"),
        ("vidoe", "video"),
        ("bulying", "bullying"),  # not "buying": a school word wins the tie
        ("schol", "school"),
        ("polcy", "policy"),
        ("u", "you"),
        ("pls", "please"),
        ("dont", "don't"),
        ("shhes", "she's"),
    ],
)
def test_a_misspelt_word_is_read_as_the_word_meant(speller: Speller, typed: str, meant: str) -> None:
    assert speller.word(typed) == meant


@pytest.mark.parametrize("word", ["aloud", "Patel", "moan", "senco", "tiktok", "Ofsted", "x", "mum", "7"])
def test_a_known_or_short_word_is_left_as_it_is(speller: Speller, word: str) -> None:
    assert speller.word(word) == word


def test_a_respelling_keeps_everything_but_the_misspelt_words(speller: Speller) -> None:
    text = "My sons teecher, Mrs Patel, keeps ignorng me!! can i moan on facebok?"
    respelled = speller.respell(text)
    assert respelled.text == "My sons teacher, Mrs Patel, keeps ignoring me!! can i moan on facebook?"
    for start, end, new_start, new_end in respelled.spans:
        assert respelled.text[new_start:new_end] == speller.word(text[start:end])
    # a position of the original maps to the same character of the respelling
    for position in (0, text.index("Mrs"), text.index("can"), len(text)):
        assert respelled.text[respelled.moved(position) :] == speller.respell(text[position:]).text


def test_words_added_for_a_model_are_known_and_corrected_to(speller: Speller) -> None:
    fresh = Speller(extra_words=["Hollybrook Infants"])
    assert fresh.word("hollybrook") == "hollybrook"
    assert fresh.word("hollybrok") == "hollybrook"


@pytest.mark.parametrize(
    ("typed", "spelt"),
    [
        (
            "my sons teecher keeps ignorng my emails can i moan about her on facebok",
            "my sons teacher keeps ignoring my emails can i moan about her on facebook",
        ),
        (
            "is it aloud to put a vidoe of the school nativty on tiktok",
            "is it aloud to put a video of the school nativity on tiktok",
        ),
        ("can i add my dauhgters teecher on instagam", "can i add my daughters teacher on instagram"),
    ],
)
async def test_the_model_reads_a_misspelt_message_as_the_spelt_one(
    nlu: InProcessNlu, typed: str, spelt: str
) -> None:
    misspelt, correct = await nlu.parse(typed), await nlu.parse(spelt)
    assert misspelt.intent == correct.intent
    assert misspelt.confidence == pytest.approx(correct.confidence, abs=0.02)


def test_a_loaded_model_knows_the_school_names_of_its_lookup_tables(nlu: InProcessNlu) -> None:
    """The words come from the model's own storage (SpellingTokenizer.load), not from nlu/."""
    assert shared_speller().word("oakfeild") == "oakfield"
    assert shared_speller().word("riversde") == "riverside"


async def test_the_parse_output_carries_the_respelled_text_only_when_a_word_changed(
    nlu: InProcessNlu,
) -> None:
    """The dialogue reads it (in-process and from a Rasa server alike: it is in the parse JSON)."""
    assert (await nlu.parse("is it aloud to put a vidoe on tiktok")).respelled == (
        "is it aloud to put a video on tiktok"
    )
    assert (await nlu.parse("can I post about the school")).respelled is None
