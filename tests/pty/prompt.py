"""Drives `traillake query` (no SQL) on a pseudo-terminal, as a person at a
terminal would: a query with more rows than a table shows, Ctrl-C during a
slow query, Tab completion of a struct field and a preset, dot commands
(.preset, .tables), .quit. Prints what the terminal showed and exits
1 with the reason if the prompt misbehaved.

    prompt.py TRAILLAKE LAKE HOME
"""
import os
import pty
import select
import sys
import time

bin_, lake, home = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.environ["HOME"] = home
    os.execv(bin_, [bin_, "query", "--lake", lake])

seen = b""


def read_until(needle, timeout, start=0):
    """Reads until `needle` appears in what was seen from `start` on; returns
    where it ends (0 when it did not appear)."""
    global seen
    end = time.time() + timeout
    while time.time() < end:
        at = seen.find(needle, start)
        if at >= 0:
            return at + len(needle)
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    at = seen.find(needle, start)
    return at + len(needle) if at >= 0 else 0


def fail(why):
    sys.stdout.write(seen.decode("utf-8", "replace"))
    print(f"\nFAIL: {why}")
    sys.exit(1)


if not read_until(b"traillake> ", 30):
    fail("no prompt")
seen = b""
os.write(fd, b"select eventid from cloudtrail limit 45;\r")
at = read_until(b"45 rows, the first 40 shown", 60)
if not at:
    fail("a table of 45 rows was not capped at 40 with the count")
if not read_until(b"traillake> ", 10, at):
    fail("no prompt after a query")
seen = b""
# A cross join keeps every worker of the query's runtime busy for minutes
# without yielding: Ctrl-C must still be seen (it was not, when the runtime
# itself listened for it).
os.write(fd, b"select count(*) from cloudtrail a cross join cloudtrail b where a.eventid <> b.eventid;\r")
time.sleep(2)
os.write(fd, b"\x03")
at = read_until(b"cancelled", 20)
if not at:
    fail("Ctrl-C during a query did not say cancelled")
if not read_until(b"traillake> ", 20, at):
    fail("Ctrl-C during a query did not give the prompt back")
seen = b""


def complete_and_run(typed, completed, rest, answer, what):
    """Types `typed` and Tab, expects `completed` on the line, types `rest`
    and Enter, expects `answer` and the prompt back."""
    global seen
    seen = b""
    os.write(fd, typed + b"\t")
    if not read_until(completed, 10):
        fail(f"Tab did not complete {what}")
    os.write(fd, rest + b"\r")
    at = read_until(answer, 30)
    if not at or not read_until(b"traillake> ", 10, at):
        fail(f"the line with {what} completed did not run")
    seen = b""


# Tab completes a struct field and a preset name; both lines run.
complete_and_run(b"select useridentity.sessioncontext.sessioniss", b"sessionissuer",
                 b".type from cloudtrail limit 1;", b"(1 row)", "the struct field sessionissuer")
complete_and_run(b".preset top-ev", b"top-events", b"", b"rows", "the preset top-events")
os.write(fd, b".tables\r")
if not read_until(b"cloudtrail_all_versions", 10):
    fail(".tables")
os.write(fd, b".quit\r")
_, status = os.waitpid(pid, 0)
if os.WEXITSTATUS(status) != 0:
    fail(f"exit status {os.WEXITSTATUS(status)}")
history = open(os.path.join(home, ".traillake_history"), encoding="utf-8").read()
if "cross join" not in history:
    fail("the cancelled statement is not in the history")
print("ok")
