"""`make demo` and the e2e suite: the whole system on one machine, three real rollouts, a timeline and a record."""
