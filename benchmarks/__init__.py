"""Performance benchmarks of parentbot (scripts, not tests): `make bench` or `python -m benchmarks --help`.

NLU parse latency (in-process and through a Rasa server), end to end through the local Bot API server with
simulated parents (an empty echo bot first, for the harness's own limits), start to first answer, and cold
training time and memory. Results go to benchmarks/results.json and a table on the terminal.
"""
