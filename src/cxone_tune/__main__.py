from cxone_tune.cli import main

main()
