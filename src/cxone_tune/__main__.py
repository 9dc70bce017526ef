"""The ``cxone-tune`` command: the console script and ``python -m cxone_tune``."""

from cxone_tune.startup import pause_gc


def main() -> None:
    pause_gc()  # before the imports of start-up (startup.py says why)
    from cxone_tune.cli import main as run

    run()


if __name__ == "__main__":
    main()
