"""A process's start-up as the cyclic garbage collector sees it.

Starting ``cxone-tune`` builds some 150,000 objects that live as long as the process (modules, classes, the
command tree, the settings model) and almost no garbage. The collector, run every 700 allocations, walks them
over and over for nothing: about 20 ms of a cron tick at 1,000 agents, and later a full collection that walks
them all once more (about 15 ms at 10,000 agents). So the console script pauses it while the tool starts
(:func:`pause_gc`), and :func:`resume_gc` ends the pause once the work begins: what start-up built is frozen
out of every later collection (``gc.freeze``) and the collector runs again as usual.

The pause ends when the run's API client is open (``cycle.Job.open``), or at once, in the CLI's main
callback, for a command that opens none or runs for long (``sandbox``, ``demo``, ``replay``, ``history``...).
A library user never pauses it, so for them :func:`resume_gc` does nothing.
"""

from __future__ import annotations

import gc


class _Pause:
    """Whether :func:`pause_gc` paused the collector (and :func:`resume_gc` has not yet resumed it)."""

    on = False


def pause_gc() -> None:
    """Pause the collector for start-up (the console script's first step); nothing if it is off already."""
    if gc.isenabled():
        gc.disable()
        _Pause.on = True


def resume_gc() -> None:
    """Start-up is over: freeze what it built and run the collector again (only if :func:`pause_gc` paused it)."""
    if _Pause.on:
        _Pause.on = False
        gc.freeze()
        gc.enable()
