"""What goes over the wire to the system and how its answer reads: the customers' fast HTTP
client (`http.py`) and the one table from an answer to `ok`/`fail`/`info` (`classify.py`,
design.md s.6/s.7).

Its own stage, below both users of it: the load path (`harness/load/`) and the client
adapters (`harness/client/`) send and read through it, and the drain reads its answers with
the same table, so none of them imports another to reach it.
"""
