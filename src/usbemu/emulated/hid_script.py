"""Scripts of input actions with times, for the HID device models to play — counterpart of
QEMU's input event queue (ui/input.c: `qemu_input_queue_event` / `qemu_input_queue_delay`,
which the monitor's `sendkey` uses to press and release keys at set times).

A `Script` is a sequence of steps, each an offset in milliseconds from the moment the script
starts and an action: `Move` (relative dx, dy), `MoveTo` (absolute x, y), `Wheel`, `Press` /
`Release` / `Click` of mouse buttons, `Press` / `Release` / `Tap` of keys or combinations
("ctrl+alt+del"), and `Type` (a string, on a US layout).  It is built step by step with a
cursor that `wait` advances, from (offset, action) pairs, or from text (`Script.parse`).
`parse_buttons` and `parse_keys` turn the names a script uses into button bits and keyboard
usages.  A script is plain data: which actions a device can perform, and when they reach the
host, is the device model's business (`usbemu.emulated.hid`).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

from ..spec.hid import KeyUsage, MouseButton, us_key

__all__ = [
    "KEY_NAMES",
    "Action",
    "Click",
    "Move",
    "MoveTo",
    "Press",
    "Release",
    "Script",
    "Step",
    "Tap",
    "Type",
    "Wheel",
    "parse_buttons",
    "parse_keys",
]


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}: give a whole number")
    return value


def _target(name: str, value: object) -> str | int:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{name}={value!r}: give a name (\"left\", \"ctrl+c\") or a number")


@dataclass(frozen=True, slots=True)
class Move:
    """Relative motion: dx to the right, dy down (mouse counts; tablet logical units)."""

    dx: int
    dy: int

    def __post_init__(self) -> None:
        _int("dx", self.dx)
        _int("dy", self.dy)


@dataclass(frozen=True, slots=True)
class MoveTo:
    """Absolute position in the device's logical units (a tablet)."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if _int("x", self.x) < 0 or _int("y", self.y) < 0:
            raise ValueError(f"MoveTo({self.x}, {self.y}): coordinates are not negative")


@dataclass(frozen=True, slots=True)
class Wheel:
    """Wheel detents: positive away from the user (up), negative towards."""

    amount: int

    def __post_init__(self) -> None:
        _int("amount", self.amount)


@dataclass(frozen=True, slots=True)
class Press:
    """Hold buttons ("left", "left+right") or keys ("ctrl+alt+del") down, in that order."""

    what: str | int

    def __post_init__(self) -> None:
        _target("what", self.what)


@dataclass(frozen=True, slots=True)
class Release:
    """Let buttons or keys go (keys in the reverse order of their naming)."""

    what: str | int

    def __post_init__(self) -> None:
        _target("what", self.what)


@dataclass(frozen=True, slots=True)
class Click:
    """Press then release mouse buttons."""

    what: str | int = "left"

    def __post_init__(self) -> None:
        _target("what", self.what)


@dataclass(frozen=True, slots=True)
class Tap:
    """Press then release keys: a combination such as "ctrl+c"."""

    what: str | int

    def __post_init__(self) -> None:
        _target("what", self.what)


@dataclass(frozen=True, slots=True)
class Type:
    """Type text key by key on a US keyboard, with shift where a character needs it."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"text={self.text!r}: give a string")
        for char in self.text:
            us_key(char)


Action: TypeAlias = Move | MoveTo | Wheel | Press | Release | Click | Tap | Type
"""Anything a script step does."""


@dataclass(frozen=True, slots=True)
class Step:
    """One action `at_ms` milliseconds after the script starts."""

    at_ms: float
    action: Action


def _offset(name: str, ms: object) -> float:
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms) \
            or ms < 0:
        raise ValueError(f"{name}={ms!r}: a time in a script is a finite number of "
                         "milliseconds, 0 or more")
    return float(ms)


class Script:
    """Input actions at times, relative to the moment the script starts.

    Built with a cursor: each action method adds a step at the cursor, `wait(ms)` moves it
    on, `at(ms)` puts it at an offset.  `steps` lists the steps in time order (steps at one
    time keep the order they were added in).  Context: plain data, no time of its own.

        Script().move(10, 0).wait(10).move(10, 0).wait(10).click("left").type("hi")
    """

    def __init__(self, steps: Iterable[tuple[float, Action]] = ()) -> None:
        self._steps: list[Step] = []
        self.cursor_ms = 0.0
        for at_ms, action in steps:
            self.add(at_ms, action)

    def __repr__(self) -> str:
        return f"<Script {len(self._steps)} steps over {self.duration_ms:g} ms>"

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps in time order."""
        return tuple(sorted(self._steps, key=lambda step: step.at_ms))

    @property
    def duration_ms(self) -> float:
        """Time from the start to the last step or the cursor, whichever is later."""
        return max([self.cursor_ms, *(step.at_ms for step in self._steps)])

    # -- building ---------------------------------------------------------------------------

    def add(self, at_ms: float, action: Action) -> Script:
        """Add `action` at `at_ms` (the cursor does not move).  Raises ValueError for a
        negative or non-finite time, TypeError for something that is not an action."""
        if not isinstance(action, _ACTIONS):
            raise TypeError(f"{action!r} is not a script action ({', '.join(_VERBS)})")
        self._steps.append(Step(_offset("at_ms", at_ms), action))
        return self

    def then(self, action: Action) -> Script:
        """Add `action` at the cursor."""
        return self.add(self.cursor_ms, action)

    def wait(self, ms: float) -> Script:
        """Move the cursor `ms` milliseconds on."""
        self.cursor_ms += _offset("ms", ms)
        return self

    def at(self, ms: float) -> Script:
        """Put the cursor at `ms` milliseconds from the start."""
        self.cursor_ms = _offset("ms", ms)
        return self

    def move(self, dx: int, dy: int) -> Script:
        return self.then(Move(dx, dy))

    def move_to(self, x: int, y: int) -> Script:
        return self.then(MoveTo(x, y))

    def wheel(self, amount: int) -> Script:
        return self.then(Wheel(amount))

    def press(self, what: str | int) -> Script:
        return self.then(Press(what))

    def release(self, what: str | int) -> Script:
        return self.then(Release(what))

    def click(self, what: str | int = "left") -> Script:
        return self.then(Click(what))

    def tap(self, what: str | int) -> Script:
        return self.then(Tap(what))

    def type(self, text: str) -> Script:
        return self.then(Type(text))

    # -- text -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Script:
        """A script from lines of words, one action per line, quoted as a shell quotes:

            move 10 -5          wheel -1            move-to 16384 16384
            press left          release left        click right
            press ctrl+alt+del  tap ctrl+c          type "Hello, world!"
            wait 20             at 500

        `wait` moves the cursor on, `at` puts it at a time; blank lines and `#` comments
        are skipped.  Raises ValueError naming the line of a word it does not understand.
        """
        script = cls()
        for number, line in enumerate(text.splitlines(), 1):
            try:
                words = shlex.split(line, comments=True)
                if words:
                    script._parse_line(words)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"line {number}: {line.strip()!r}: {exc}") from None
        return script

    def _parse_line(self, words: list[str]) -> None:
        verb, args = words[0].lower(), words[1:]
        if verb in ("wait", "at"):
            (ms,) = _arity(verb, args, 1)
            getattr(self, verb)(float(ms))
            return
        parse = _PARSERS.get(verb)
        if parse is None:
            raise ValueError(f"unknown action {words[0]!r} (known: "
                             f"{', '.join([*_VERBS, 'wait', 'at'])})")
        self.then(parse(args))


def _arity(verb: str, args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise ValueError(f"{verb} takes {count} argument{'s' if count > 1 else ''}, "
                         f"got {len(args)}")
    return args


def _text(verb: str, args: list[str]) -> list[str]:
    if not args:
        raise ValueError(f"{verb} takes the text to type")
    return args


def _ints(verb: str, args: list[str], count: int) -> list[int]:
    words = _arity(verb, args, count)
    try:
        return [int(word, 0) for word in words]
    except ValueError:
        raise ValueError(f"{verb} takes whole numbers, got {' '.join(args)!r}") from None


_PARSERS: Final[dict[str, Callable[[list[str]], Action]]] = {
    "move": lambda args: Move(*_ints("move", args, 2)),
    "move-to": lambda args: MoveTo(*_ints("move-to", args, 2)),
    "wheel": lambda args: Wheel(*_ints("wheel", args, 1)),
    "press": lambda args: Press(*_arity("press", args, 1)),
    "release": lambda args: Release(*_arity("release", args, 1)),
    "click": lambda args: Click(*_arity("click", args, 1)) if args else Click(),
    "tap": lambda args: Tap(*_arity("tap", args, 1)),
    "type": lambda args: Type(" ".join(_text("type", args))),
}
_VERBS: Final = tuple(_PARSERS)
_ACTIONS: Final = (Move, MoveTo, Wheel, Press, Release, Click, Tap, Type)


# -- names ------------------------------------------------------------------------------------

_ALL_BUTTONS: Final = ~MouseButton(0)
_BUTTON_NAMES: Final = {button.name.lower(): button for button in MouseButton
                        if button.name is not None}


def parse_buttons(what: str | int) -> MouseButton:
    """Mouse buttons from names joined by "+" ("left", "right", "middle", "side", "extra")
    or from the bits of a boot report's first byte.

    Context: pure function.  Raises ValueError for an unknown name, bits outside 0x1F or
    no button at all.
    """
    if isinstance(what, int):
        if not 0 < what <= _ALL_BUTTONS:
            raise ValueError(f"buttons={what:#x}: bits 0x01..0x10 are the five buttons")
        return MouseButton(what)
    buttons = MouseButton(0)
    for name in what.lower().split("+"):
        button = _BUTTON_NAMES.get(name.strip())
        if button is None:
            raise ValueError(f"{name.strip()!r} is not a mouse button "
                             f"({', '.join(_BUTTON_NAMES)})")
        buttons |= button
    return buttons


_K = KeyUsage
_NAMED_KEYS: Final[tuple[tuple[KeyUsage, tuple[str, ...]], ...]] = (
    (_K.LEFT_CTRL, ("ctrl", "control", "lctrl")),
    (_K.LEFT_SHIFT, ("shift", "lshift")),
    (_K.LEFT_ALT, ("alt", "lalt")),
    (_K.LEFT_GUI, ("gui", "meta", "super", "win", "lgui")),
    (_K.RIGHT_CTRL, ("rctrl",)),
    (_K.RIGHT_SHIFT, ("rshift",)),
    (_K.RIGHT_ALT, ("ralt", "altgr")),
    (_K.RIGHT_GUI, ("rgui", "rmeta", "rsuper", "rwin")),
    (_K.ENTER, ("enter", "return")),
    (_K.ESCAPE, ("esc", "escape")),
    (_K.BACKSPACE, ("backspace",)),
    (_K.TAB, ("tab",)),
    (_K.SPACE, ("space",)),
    (_K.EQUAL, ("plus",)),
    (_K.CAPS_LOCK, ("capslock",)),
    (_K.PRINT_SCREEN, ("printscreen", "sysrq")),
    (_K.SCROLL_LOCK, ("scrolllock",)),
    (_K.PAUSE, ("pause",)),
    (_K.INSERT, ("insert", "ins")),
    (_K.HOME, ("home",)),
    (_K.PAGE_UP, ("pageup", "pgup")),
    (_K.DELETE, ("delete", "del")),
    (_K.END, ("end",)),
    (_K.PAGE_DOWN, ("pagedown", "pgdn")),
    (_K.RIGHT, ("right",)),
    (_K.LEFT, ("left",)),
    (_K.DOWN, ("down",)),
    (_K.UP, ("up",)),
    (_K.NUM_LOCK, ("numlock",)),
    (_K.APPLICATION, ("menu", "application", "compose")),
    (_K.POWER, ("power",)),
)

KEY_NAMES: Final[dict[str, KeyUsage]] = {
    **{name: key for key, names in _NAMED_KEYS for name in names},
    **{f"f{n}": KeyUsage(KeyUsage.F1 + n - 1) for n in range(1, 13)},
    **{f"f{n}": KeyUsage(KeyUsage.F13 + n - 13) for n in range(13, 25)},
}
"""Key names a combination may use (lower case), besides single characters."""

#: Names that are a character typed with shift ("plus" is shift and "=").
_SHIFTED_NAMES: Final = frozenset({"plus"})


def _key(token: str) -> tuple[KeyUsage, ...]:
    name = token.strip()
    if len(name) == 1:
        usage, shift = us_key(name)
        return (KeyUsage.LEFT_SHIFT, usage) if shift else (usage,)
    usage_by_name = KEY_NAMES.get(name.lower())
    if usage_by_name is None:
        raise ValueError(f"{name!r} is not a key: use a character or a name such as "
                         "ctrl, shift, alt, gui, enter, esc, del, tab, space, up, f1")
    if name.lower() in _SHIFTED_NAMES:
        return (KeyUsage.LEFT_SHIFT, usage_by_name)
    return (usage_by_name,)


def parse_keys(what: str | int) -> tuple[KeyUsage, ...]:
    """The keys of a combination such as "ctrl+alt+del" or "ctrl+C", in the order they are
    pressed, each once; a character that needs shift brings left shift before it.  An
    integer is one keyboard usage.

    Context: pure function.  Raises ValueError for an unknown key name, a character the US
    layout cannot type or an empty combination.
    """
    if isinstance(what, int):
        try:
            usage = KeyUsage(what)
        except ValueError:
            raise ValueError(f"usage {what:#x} is not a key of the keyboard page") from None
        if usage <= KeyUsage.ERROR_UNDEFINED:
            raise ValueError(f"usage {what:#x} is an error code, not a key")
        return (usage,)
    keys: list[KeyUsage] = []
    for token in what.split("+"):
        if not token.strip():
            raise ValueError(f"{what!r}: empty key name (write \"plus\" for the + key)")
        keys.extend(key for key in _key(token) if key not in keys)
    return tuple(keys)
