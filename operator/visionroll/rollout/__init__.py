"""The pure decision core: strategies and analysis verdicts, plain data in and out, no I/O imports."""
