"""Module parameters — counterpart of kernel/params.c (the standard parameter types,
struct kernel_param, parse_args and the /sys/module/<module>/parameters files) and of
lib/kstrtox.c (kstrtoull, kstrtoll, kstrtobool, with which the types parse their text).

A parameter is declared with `module_param` (kernel/module.py); the parameter *is* the
module's global variable, as in C, and `KernelParam` binds the declaration to it.
Arguments are parsed with Linux's rules and messages: `next_arg` splits `param[=value]`
off the front with the kernel's quoting, dashes and underscores name the same parameter,
a bad value logs `` usbserial: `x' invalid for parameter `vendor' `` and fails with
-EINVAL (-ERANGE or -ENOSPC where the parser says so), an unknown parameter is the
caller's to judge (for a module it is only a warning), and what follows `--` is handed
back.  A parameter file shows the value as params.c's `get` prints it and stores a write
with the same parser.  Nothing here loads a module or knows the module list
(kernel/module_loader.py calls `parse_args` from load_module).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

from ..errors import Errno, strerror
from .printk import Level, Printk
from .vfs import Attr

__all__ = [
    "PARAM_TYPES",
    "KernelParam",
    "ParamDecl",
    "ParamError",
    "ParamType",
    "UnknownParam",
    "kstrtobool",
    "kstrtoll",
    "kstrtoull",
    "next_arg",
    "param_attr",
    "param_string",
    "parse_args",
]

_ULLONG_MAX: Final = (1 << 64) - 1


# -- lib/kstrtox.c ------------------------------------------------------------------------------


class _BadValue(ValueError):
    """A parameter's set() failed with `code` (a negative errno)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or strerror(code))
        self.code = code


#: What a `ParamType.set` of a module's own (module_param_cb) raises to refuse a value:
#: `ParamError(-errno)`, or `ParamError(-ENOSPC, message)` for the "too large" message.
ParamError = _BadValue


_HEX: Final = "0123456789abcdefABCDEF"


def _kstrtoull_unsigned(s: str, base: int) -> int:
    """_kstrtoull(): radix fixup (base 0: 0x… hex, 0… octal, else decimal), digits, one
    optional trailing newline, nothing else."""
    if base == 0:
        if s[:1] == "0":
            base = 16 if s[1:2] in ("x", "X") and s[2:3] != "" and s[2:3] in _HEX else 8
        else:
            base = 10
    if base == 16 and s[:1] == "0" and s[1:2] in ("x", "X"):
        s = s[2:]
    res = 0
    count = 0
    overflow = False
    for ch in s:
        lc = ch.lower()
        if "0" <= ch <= "9":
            val = ord(ch) - 48
        elif "a" <= lc <= "f":
            val = ord(lc) - 87
        else:
            break
        if val >= base:
            break
        if res >> 60 and res > (_ULLONG_MAX - val) // base:
            overflow = True
        res = (res * base + val) & _ULLONG_MAX
        count += 1
    if overflow:
        raise _BadValue(-Errno.ERANGE)
    if count == 0:
        raise _BadValue(-Errno.EINVAL)
    rest = s[count:]
    if rest[:1] == "\n":
        rest = rest[1:]
    if rest:
        raise _BadValue(-Errno.EINVAL)
    return res


def kstrtoull(s: str, base: int = 0) -> int:
    """kstrtoull(): an unsigned 64-bit number, optional leading `+`.  Raises ValueError
    (with `.code` -EINVAL or -ERANGE) as the kernel returns them.  Context: pure."""
    if s[:1] == "+":
        s = s[1:]
    return _kstrtoull_unsigned(s, base)


def kstrtoll(s: str, base: int = 0) -> int:
    """kstrtoll(): a signed 64-bit number, optional leading `-` or `+`.  Raises ValueError
    (`.code` -EINVAL or -ERANGE).  Context: pure."""
    if s[:1] == "-":
        tmp = _kstrtoull_unsigned(s[1:], base)
        if tmp > 1 << 63:
            raise _BadValue(-Errno.ERANGE)
        return -tmp
    tmp = kstrtoull(s, base)
    if tmp >= 1 << 63:
        raise _BadValue(-Errno.ERANGE)
    return tmp


def kstrtobool(s: str) -> bool:
    """kstrtobool(): the first character decides — e/E, y/Y, t/T, 1 true; d/D, n/N, f/F, 0
    false; "on"/"off" by the second.  Raises ValueError (`.code` -EINVAL).  Context: pure."""
    first = s[:1]
    if first in ("e", "E", "y", "Y", "t", "T", "1"):
        return True
    if first in ("d", "D", "n", "N", "f", "F", "0"):
        return False
    if first in ("o", "O"):
        if s[1:2] in ("n", "N"):
            return True
        if s[1:2] in ("f", "F"):
            return False
    raise _BadValue(-Errno.EINVAL)


# -- kernel/params.c: parameter types ---------------------------------------------------------


@dataclass(frozen=True)
class ParamType:
    """struct kernel_param_ops: how a value is parsed from text (`set`, raising
    ValueError with `.code`), shown (`get`, with the trailing newline), and whether it
    may be given without a value (KERNEL_PARAM_OPS_FL_NOARG).  `accepts` checks a default
    given in Python."""

    name: str
    set: Callable[[str], object]
    get: Callable[[Any], str]
    accepts: Callable[[object], bool]
    noarg: bool = False


def _integer(name: str, parse: Callable[[str, int], int], lo: int, hi: int,
             show: Callable[[int], str] = str) -> ParamType:
    def set_(text: str) -> int:
        value = parse(text, 0)
        if not lo <= value <= hi:
            raise _BadValue(-Errno.ERANGE)
        return value

    def accepts(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi

    return ParamType(name, set_, lambda v: f"{show(v)}\n", accepts)


def _hexint(value: int) -> str:
    """printf("%#08x"): "0x" counts in the width; zero is printed without it."""
    return "00000000" if value == 0 else f"{value:#08x}"


def _charp_set(text: str) -> str:
    if len(text) > 1024:
        raise _BadValue(-Errno.ENOSPC, "string parameter too long")
    return text


def _bool_get(value: Any) -> str:
    return "Y\n" if value else "N\n"


PARAM_TYPES: Final[dict[str, ParamType]] = {
    "byte": _integer("byte", kstrtoull, 0, 0xFF),
    "short": _integer("short", kstrtoll, -0x8000, 0x7FFF),
    "ushort": _integer("ushort", kstrtoull, 0, 0xFFFF),
    "int": _integer("int", kstrtoll, -(1 << 31), (1 << 31) - 1),
    "uint": _integer("uint", kstrtoull, 0, (1 << 32) - 1),
    "long": _integer("long", kstrtoll, -(1 << 63), (1 << 63) - 1),
    "ulong": _integer("ulong", kstrtoull, 0, _ULLONG_MAX),
    "ullong": _integer("ullong", kstrtoull, 0, _ULLONG_MAX),
    "hexint": _integer("hexint", kstrtoull, 0, (1 << 32) - 1, _hexint),
    "charp": ParamType("charp", _charp_set, lambda v: f"{'(null)' if v is None else v}\n",
                       lambda v: v is None or isinstance(v, str)),
    "bool": ParamType("bool", kstrtobool, _bool_get, lambda v: isinstance(v, bool),
                      noarg=True),
    "invbool": ParamType("invbool", lambda text: not kstrtobool(text),
                         lambda v: _bool_get(not v), lambda v: isinstance(v, bool)),
}
"""The standard parameter types of kernel/params.c with their kstrto*() parsers and
printf formats; `bool` alone may be given without a value."""


def param_string(maxlen: int) -> ParamType:
    """param_ops_string, the type module_param_string(name, buf, maxlen, perm) gives: a
    copy into a buffer of `maxlen` bytes, so at most `maxlen` - 1 characters; a longer
    value fails with -ENOSPC ("<name>: string doesn't fit in <maxlen - 1> chars.").
    Raises ValueError for a `maxlen` below 1.  Context: pure."""
    if maxlen < 1:
        raise ValueError(f"param_string({maxlen}): the buffer holds at least the NUL")

    def set_(text: str) -> str:
        if len(text) >= maxlen:
            raise _BadValue(-Errno.ENOSPC, f"string doesn't fit in {maxlen - 1} chars.")
        return text

    return ParamType("string", set_, lambda v: f"{v}\n",
                     lambda v: isinstance(v, str) and len(v) < maxlen)


# -- struct kernel_param ------------------------------------------------------------------------


@dataclass
class ParamDecl:
    """One `module_param` declaration (the variable lives in the module's globals)."""

    name: str
    type: ParamType
    perm: int


class KernelParam:
    """struct kernel_param bound to its module: the value is the module's global."""

    def __init__(self, decl: ParamDecl, description: str | None,
                 namespace: dict[str, Any]) -> None:
        self.name = decl.name
        self.type = decl.type
        self.perm = decl.perm
        self.description = description
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"<KernelParam {self.name}:{self.type.name}={self.value!r}>"

    @property
    def value(self) -> Any:
        return self._namespace[self.name]

    def set(self, text: str) -> int:
        """ops->set(): parse `text` and store it; 0 or a negative errno (the value is
        unchanged on error).  Context: atomic."""
        try:
            self._store(text)
        except _BadValue as exc:
            return exc.code
        return 0

    def _store(self, text: str) -> None:
        self._namespace[self.name] = self.type.set(text)

    def show(self) -> str:
        """ops->get(): the value as the parameter file shows it (with the newline)."""
        return self.type.get(self.value)


def param_attr(kp: KernelParam) -> Attr:
    """/sys/module/<module>/parameters/<name>, mode = perm (param_attr_show/store): a read
    shows the value, a write sets it (a bad value fails the write with its errno)."""
    async def store(data: bytes) -> int:
        err = kp.set(data.decode("utf-8", errors="replace"))
        return err if err else len(data)

    return Attr(show=kp.show if kp.perm & 0o444 else None,
                store=store if kp.perm & 0o222 else None, mode=kp.perm)


# -- kernel/params.c: parse_args -------------------------------------------------------------------

_SPACE: Final = " \t\n\v\f\r"


def _skip_spaces(text: str) -> str:
    return text.lstrip(_SPACE)


def next_arg(args: str) -> tuple[str, str | None, str]:
    """next_arg(): split `param[=value]` off the front of `args`; returns (param, value or
    None, rest).  `"` quotes spaces (not escapable) and is dropped around the value or the
    whole argument; rest has its leading spaces chewed.  Context: pure."""
    quoted = in_quote = args[:1] == '"'
    if quoted:
        args = args[1:]
    buf = list(args)
    equals = 0
    i = 0
    while i < len(buf):
        if buf[i] in _SPACE and not in_quote:
            break
        if equals == 0 and buf[i] == "=":
            equals = i
        if buf[i] == '"':
            in_quote = not in_quote
        i += 1
    val_start = -1
    if equals:
        buf[equals] = "\0"
        val_start = equals + 1
        if val_start < i and buf[val_start] == '"':
            val_start += 1
            if buf[i - 1] == '"':
                buf[i - 1] = "\0"
    if quoted and i > 0 and buf[i - 1] == '"':
        buf[i - 1] = "\0"
    param = "".join(buf[:i]).split("\0", 1)[0]
    value = "".join(buf[val_start:i]).split("\0", 1)[0] if equals else None
    return param, value, _skip_spaces(args[i + 1:] if i < len(args) else "")


def _parameq(a: str, b: str) -> bool:
    return a.replace("-", "_") == b.replace("-", "_")


UnknownParam = Callable[[str, str | None], int]
"""parse_args()'s `unknown` callback: (param, value) → 0 or a negative errno."""


def parse_args(doing: str, args: str, params: Collection[KernelParam], log: Printk,
               unknown: UnknownParam | None = None) -> tuple[int, str | None]:
    """parse_args(doing, args, params, …, unknown): set each `param[=value]` of `args` in
    `params` (dashes and underscores alike; only a `bool` may come without a value),
    logging Linux's messages under the name `doing` for a value that is invalid or too
    large.  A parameter not in `params` goes to `unknown(param, value)`, whose result
    counts as the parameter's (-ENOENT without one).  Returns 0 or the last error, and
    what followed a `--` (None without one).  Context: atomic."""
    err = 0
    args = _skip_spaces(args)
    while args:
        param, val, args = next_arg(args)
        if val is None and param == "--":
            return err, args
        ret = _parse_one(param, val, params, log, unknown)
        if ret == 0:
            continue
        if ret == -Errno.ENOENT:
            log.log(Level.ERR, f"{doing}: Unknown parameter `{param}'")
        elif ret == -Errno.ENOSPC:
            log.log(Level.ERR, f"{doing}: `{val or ''}' too large for parameter `{param}'")
        else:
            log.log(Level.ERR, f"{doing}: `{val or ''}' invalid for parameter `{param}'")
        err = ret
    return err, None


def _parse_one(param: str, val: str | None, params: Collection[KernelParam], log: Printk,
               unknown: UnknownParam | None) -> int:
    """parse_one(): the parameter named `param` parses `val`."""
    for kp in params:
        if _parameq(param, kp.name):
            if val is None and not kp.type.noarg:
                return -Errno.EINVAL
            try:
                kp._store("1" if val is None else val)
            except _BadValue as exc:
                if exc.code == -Errno.ENOSPC:
                    log.log(Level.ERR, f"{kp.name}: {exc}")
                return exc.code
            return 0
    return -Errno.ENOENT if unknown is None else unknown(param, val)
