"""converge.py - the convergence check shared by the sync test tools
(sync_tools/stripe_tool.py, sfsync_tools/sf_tool.py): compare the API with
the synced tables until they agree or a deadline passes."""
import sys
import time


def wait_converged(differences, timeout, interval=0.5):
    """Calls differences() -> (list of difference strings, number of objects
    compared) until it returns no differences (prints "check: converged"
    and returns 0) or TIMEOUT seconds pass (prints the first 30 differences
    to stderr and returns 1). An exception counts as a difference: the
    database or its tables may not exist yet."""
    deadline = time.time() + timeout
    while True:
        try:
            diffs, n = differences()
        except Exception as e:  # noqa: BLE001 - any failure is retried until the deadline
            diffs, n = [f"error: {e}"], 0
        if not diffs:
            print(f"check: converged, {n} objects equal their rows")
            return 0
        if time.time() > deadline:
            print(f"check: NOT converged, {len(diffs)} differences:", file=sys.stderr)
            for d in diffs[:30]:
                print("  " + d, file=sys.stderr)
            return 1
        time.sleep(interval)
