"""Partition tables — counterpart of Linux's block/partitions/: the scan of a disk's table
and the partitions it finds (core.py), the state the parsers share (check.py), and the
parsers themselves, GPT (efi.py) before the PC BIOS table (msdos.py)."""
