"""threadline's overhead, throughput and memory benchmarks.

Run from the repository root::

    python -m benchmarks            # full run, writes benchmarks/results/latest.{md,json}
    python -m benchmarks --quick    # tiny counts (seconds), for a smoke check
    python -m benchmarks --list     # the workloads and whether they can run here

Every workload runs uninstrumented and instrumented in the same process,
interleaved over several rounds; the report gives the median ratio and the
median per-call overhead in microseconds. See ``benchmarks/README.md``.
"""
