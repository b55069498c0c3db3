"""Pure protocol rules: no I/O, no framework imports."""
