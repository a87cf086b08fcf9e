"""Scripts of input actions (usbemu.emulated.hid_script): building with a cursor, the text
form, and the button and key names the models accept."""

from __future__ import annotations

import math

import pytest

from usbemu.emulated.hid_script import (
    KEY_NAMES,
    Click,
    Move,
    MoveTo,
    Press,
    Release,
    Script,
    Step,
    Tap,
    Type,
    Wheel,
    parse_buttons,
    parse_keys,
)
from usbemu.spec.hid import KeyUsage, MouseButton

K = KeyUsage


def test_the_cursor_places_steps_and_steps_come_in_time_order() -> None:
    script = (Script().move(1, 2).wait(10).click().press("left").at(5).wheel(-1)
              .wait(2.5).type("hi").add(0, Release("left")))
    assert script.steps == (
        Step(0.0, Move(1, 2)), Step(0.0, Release("left")), Step(5.0, Wheel(-1)),
        Step(7.5, Type("hi")), Step(10.0, Click("left")), Step(10.0, Press("left")))
    assert (len(script), script.duration_ms, script.cursor_ms) == (6, 10.0, 7.5)
    assert Script().wait(30).duration_ms == 30.0
    assert repr(Script([(4, Tap("ctrl+c"))])) == "<Script 1 steps over 4 ms>"


def test_every_builder_method_adds_its_action() -> None:
    script = (Script().move(1, 1).move_to(2, 2).wheel(3).press("a").release("a").click("right")
              .tap("ctrl+c").type("x"))
    assert [step.action for step in script.steps] == [
        Move(1, 1), MoveTo(2, 2), Wheel(3), Press("a"), Release("a"), Click("right"),
        Tap("ctrl+c"), Type("x")]


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, "5", True])
def test_times_are_finite_and_not_negative(bad: object) -> None:
    with pytest.raises(ValueError, match="finite number of milliseconds"):
        Script().wait(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at_ms"):
        Script([(bad, Move(1, 1))])  # type: ignore[list-item]


def test_actions_check_their_arguments() -> None:
    with pytest.raises(TypeError, match=r"dx=1\.5: give a whole number"):
        Move(1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not negative"):
        MoveTo(-1, 0)
    with pytest.raises(TypeError, match="amount=True"):
        Wheel(True)
    with pytest.raises(TypeError, match="give a name"):
        Press("  ")
    with pytest.raises(ValueError, match="'\\\\x00' cannot be typed"):
        Type("a\0")
    with pytest.raises(TypeError, match="not a script action"):
        Script().then("move 1 1")  # type: ignore[arg-type]


def test_parse_every_verb() -> None:
    script = Script.parse("""
        # a comment, then a blank line

        move 10 -5
        move-to 0x4000 16384
        wheel -1
        press left
        release left   # trailing comment
        click
        click right
        wait 20
        tap ctrl+alt+del
        type "Hello, world!"
        at 5
        type two words
    """)
    assert script.steps == (
        Step(0.0, Move(10, -5)), Step(0.0, MoveTo(16384, 16384)), Step(0.0, Wheel(-1)),
        Step(0.0, Press("left")), Step(0.0, Release("left")), Step(0.0, Click("left")),
        Step(0.0, Click("right")), Step(5.0, Type("two words")),
        Step(20.0, Tap("ctrl+alt+del")), Step(20.0, Type("Hello, world!")))


@pytest.mark.parametrize(("text", "message"), [
    ("move 1", "line 1: 'move 1': move takes 2 arguments, got 1"),
    ("move a b", "move takes whole numbers, got 'a b'"),
    ("wait\n", "wait takes 1 argument, got 0"),
    ("wait -3", "finite number of milliseconds"),
    ("\n\njump 3", "line 3: 'jump 3': unknown action 'jump' (known: move, move-to"),
    ('type "unterminated', "No closing quotation"),
    ("type é", "cannot be typed on a US keyboard"),
    ("type", "type takes the text to type"),
    ("at x", "could not convert"),
])
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Script.parse(text)


def test_parse_buttons() -> None:
    assert parse_buttons("left") is MouseButton.LEFT
    assert parse_buttons("Left + RIGHT") == MouseButton.LEFT | MouseButton.RIGHT
    assert parse_buttons(0x1F) == MouseButton.LEFT | MouseButton.RIGHT | MouseButton.MIDDLE \
        | MouseButton.SIDE | MouseButton.EXTRA
    with pytest.raises(ValueError, match="not a mouse button \\(left, right, middle, side, "):
        parse_buttons("left+wheel")
    for bad in (0, 0x20, -1):
        with pytest.raises(ValueError, match="five buttons"):
            parse_buttons(bad)


def test_parse_keys() -> None:
    assert parse_keys("ctrl+alt+del") == (K.LEFT_CTRL, K.LEFT_ALT, K.DELETE)
    assert parse_keys("CTRL + Shift + Esc") == (K.LEFT_CTRL, K.LEFT_SHIFT, K.ESCAPE)
    assert parse_keys("ctrl+C") == (K.LEFT_CTRL, K.LEFT_SHIFT, K.C)  # a capital brings shift
    assert parse_keys("shift+A") == (K.LEFT_SHIFT, K.A)  # each key once
    assert parse_keys("ctrl+plus") == (K.LEFT_CTRL, K.LEFT_SHIFT, K.EQUAL)
    assert parse_keys("ralt+f13+super") == (K.RIGHT_ALT, K.F13, K.LEFT_GUI)
    assert parse_keys("?") == (K.LEFT_SHIFT, K.SLASH)
    assert parse_keys(0x4C) == (K.DELETE,)
    assert KEY_NAMES["f24"] is K.F24 and KEY_NAMES["return"] is K.ENTER
    with pytest.raises(ValueError, match="error code"):
        parse_keys(1)
    with pytest.raises(ValueError, match="not a key of the keyboard page"):
        parse_keys(0x200)
    with pytest.raises(ValueError, match="empty key name"):
        parse_keys("ctrl+")
    with pytest.raises(ValueError, match="'hyper' is not a key"):
        parse_keys("hyper")
