"""`python -m usbemu`: the usbemu command."""

from .cli.main import main

main(prog_name="usbemu")
