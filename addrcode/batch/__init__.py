"""Batch runs: a command's records from an input file (or stdin) to its outputs, one record per input row.

- `frame`: one call (`run_batch(RunSpec)`) runs a batch command: input format, columns, resume, outputs.
- `jobs`: the record function of each command (`make_job`) and the resources it loads.
- `runner`: chunks, worker processes, output order, resume journal.
- `io`: strict CSV/JSONL readers and the writers; `columns`: which columns hold the address.
- `summary`, `failures`, `progress`: the counts printed at the end, error records, the progress bar.
- `engines`: the same jobs over pandas frames, for Dask and Spark.
"""
