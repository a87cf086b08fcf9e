"""How the `usbemu` command reports a mistake: one line, `usbemu: error: MESSAGE`, on
stderr, with exit status 2 for a usage error (an unknown option or command, a missing or
bad argument, a bad machine option) — the message names what was wrong and what would be
accepted.  Click's own report (a usage line, "Try 'usbemu --help' for help.", then
"Error: …") is replaced by that one line; an error that is not a usage error (a bridge
this host cannot run) is one line the same way, with its own status (1).

`UsbemuGroup` is the click group class of `usbemu` and its sub-groups; it runs nothing of
its own.  Help (`-h`, `--help`, a group without a command) is click's, on stdout, exit
status 0.
"""

from __future__ import annotations

from typing import IO, Any

import click

__all__ = ["CommandError", "CommandFailure", "UsbemuGroup", "one_line_error", "printable"]


class CommandError(click.ClickException):
    """A user's mistake shown as one line, `usbemu: error: MESSAGE`; exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"usbemu: error: {printable(self.format_message())}", file=file, err=True)


def printable(text: str) -> str:
    """`text` with every character that is not printable (a newline, a control character
    someone typed as an argument) written as its escape, so that it stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class CommandFailure(CommandError):
    """A command that could not do its work (not a mistake in how it was called), shown
    the same way; exit status 1."""

    exit_code = 1


def _error(message: str, exit_code: int) -> CommandError:
    return (CommandError if exit_code == CommandError.exit_code else CommandFailure)(message)


#: Click's "help for a group called without a command" (click 8.2 and later), which this
#: module answers as `--help` does: the help on stdout, exit status 0.
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    kind for kind in (getattr(click.exceptions, "NoArgsIsHelpError", None),)
    if kind is not None)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _option_names(ctx: click.Context) -> str:
    """The options a command takes, as its help lists them ("-t", "--plug", "-h/--help")."""
    return ", ".join("/".join(param.opts) for param in ctx.command.get_params(ctx)
                     if isinstance(param, click.Option))


def _usage(ctx: click.Context) -> str:
    return " ".join(ctx.get_usage().split())


def _then(message: str, more: str) -> str:
    """Two sentences: `message`, ended with a full stop if it has none, then `more`."""
    return f"{message}{'' if message.endswith(('.', '?', '!')) else '.'} {more}"


def one_line_error(exc: click.ClickException) -> CommandError:
    """`exc` as one line that says what is accepted: an unknown option with the command's
    options, a missing or extra argument with the command's usage line; a bad value as
    click words it (its message names the accepted values)."""
    message = exc.format_message()
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    if ctx is not None:
        if isinstance(exc, click.NoSuchOption):
            message = _then(message, f"Options of {ctx.command_path}: {_option_names(ctx)}.")
        elif not isinstance(exc, click.BadParameter) or isinstance(exc,
                                                                    click.MissingParameter):
            message = _then(message, _usage(ctx))
    return _error(_one_line(message), exc.exit_code)


class UsbemuGroup(click.Group):
    """A click group whose errors — its own, its commands' and its sub-groups' — are
    `CommandError`s (see the module docstring); an unknown command is answered with the
    list of commands."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _NO_ARGS_IS_HELP as exc:
            context = getattr(exc, "ctx", None)
            if context is None:
                raise
            click.echo(context.get_help())
            raise click.exceptions.Exit(0) from None
        except CommandError:
            raise
        except click.ClickException as exc:
            raise one_line_error(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommandError:
            raise
        except click.ClickException as exc:
            raise one_line_error(exc) from None

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            commands = ", ".join(self.list_commands(ctx))
            raise _error(_one_line(_then(exc.format_message(), f"Commands of "
                                         f"{ctx.command_path}: {commands}.")),
                         exc.exit_code) from None
