"""``guanjia demo``: the simulated warehouse (run.py tells the story; see its docstring)."""
