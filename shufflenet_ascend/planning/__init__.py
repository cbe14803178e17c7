"""run_all.sh's decisions: what each stage runs, what it skips, and whether its outputs are complete.

run_all.sh drives and this package decides (one module per stage; common.py holds what they share).
``options ARGS...`` checks run_all's options (and the interpreter's packages) and prints shell assignments;
``start STAGE [BATCH]`` prepares a stage (stale outputs removed, shard folders linked) and prints its actions, one
per line, fields separated by tabs:

    stage NAME TEXT        a stage begins (its header)
    say TEXT               a line to print as it is
    run COMMAND            a command, shell-quoted (shlex.join): printed, then run exactly as printed
    run_in FOLDER COMMAND  the same, run in FOLDER
    device D COMMAND       one device's command, started at once beside the others; "wait" waits for them all
    tolerate TEXT1 TEXT2 COMMAND
                           a command whose exit status 1 (a missed threshold) prints TEXT1; other failures stop
                           the run with TEXT2
    optional TEXT COMMAND  a diagnostic beside the run (msit): a failure prints TEXT and the run goes on
    check ARGS             run ``check ARGS``: the outputs are verified, renamed and recorded

The run's settings live in .run_all/run.json; stamps and markers in .run_all/ (make's rule: an output is fresh when
it is newer than every input, and a stamp is rewritten only when its value changes).
"""
