"""The command flows that join the pure core to I/O: context, plan, apply, import/export, plan files."""
