"""The clone file format (usbemu.emulated.clone.file): round trips of random clones, and
random input that is never anything but a CloneError."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from usbemu.emulated.clone import (
    SPEED_NAMES,
    CloneData,
    CloneError,
    clone_data_from_toml,
    clone_model,
    format_clone,
)
from usbemu.spec.ch9 import Speed

KEYBOARD_DUMP = bytes.fromhex(
    "12 01 00 02 00 00 00 40 27 06 01 00 00 00 01 04 0b 01"
    "09 02 22 00 01 01 08 a0 32 09 04 00 00 01 03 01 01 00"
    "09 21 11 01 00 01 22 3f 00 07 05 81 03 08 00 07")

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
langids = st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4, unique=True)


@st.composite
def clones(draw: st.DrawFn) -> CloneData:
    languages = tuple(draw(langids))
    strings = {lang: draw(st.dictionaries(st.integers(1, 255), texts, max_size=4))
               for lang in languages if draw(st.booleans())}
    optional = st.none() | st.binary(max_size=40)
    return CloneData(
        descriptors=draw(st.binary(min_size=1, max_size=80)),
        speed=draw(st.sampled_from(list(SPEED_NAMES.values()))),
        languages=languages, strings=strings,
        qualifier=draw(optional), other_speed=tuple(draw(st.lists(st.binary(max_size=40),
                                                                  max_size=2))),
        bos=draw(optional),
        report_descriptors=draw(st.dictionaries(st.integers(0, 255), st.binary(max_size=40),
                                                max_size=2)),
        hub_descriptor=draw(optional))


def same_answers(a: CloneData, b: CloneData) -> bool:
    """Equal but for a language table that answers as the first language does."""
    return (a.descriptors, a.speed, a.languages, a.qualifier, a.other_speed, a.bos,
            dict(a.report_descriptors), a.hub_descriptor) == (
        b.descriptors, b.speed, b.languages, b.qualifier, b.other_speed, b.bos,
        dict(b.report_descriptors), b.hub_descriptor) and all(
        dict(a.strings_in(lang)) == dict(b.strings_in(lang)) for lang in a.languages)


@given(clones())
@example(CloneData(b"\x00", Speed.LOW, (0,), {0: {1: "\U0001166d"}}))  # unprintable, not BMP
def test_every_clone_survives_its_file(data: CloneData) -> None:
    text = format_clone(data)
    again = clone_data_from_toml(text)
    assert same_answers(again, data)
    assert format_clone(again) == text


@given(st.text(max_size=300))
def test_random_text_is_a_clone_error_or_a_clone(text: str) -> None:
    try:
        clone_data_from_toml(text, "random.toml")
    except CloneError as exc:
        assert str(exc).startswith("random.toml: ")


@given(clones())
def test_random_fields_make_a_model_or_a_clone_error(data: CloneData) -> None:
    for candidate in (data, CloneData(KEYBOARD_DUMP, data.speed, data.languages,
                                      data.strings, data.qualifier, data.other_speed,
                                      data.bos, data.report_descriptors,
                                      data.hub_descriptor)):
        try:
            clone_model(candidate, "random")
        except CloneError as exc:
            assert str(exc).startswith("random: ")
