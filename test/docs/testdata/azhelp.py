# Prints `az <command> --help` for each command line read from stdin, in one
# process: what /usr/bin/az runs (azure.cli's get_default_cli().invoke), so
# Python and each command module load once instead of once per command.
# Each answer starts with a line "\0=== <command> <exit code>".
import contextlib
import io
import sys

from azure.cli.core import get_default_cli

for line in sys.stdin:
    args = line.split()
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            get_default_cli().invoke(args + ["--help"])
        except SystemExit as e:
            code = e.code or 0
    sys.stdout.write("\0=== %s %d\n%s" % (" ".join(args), code, out.getvalue()))
    sys.stdout.flush()
