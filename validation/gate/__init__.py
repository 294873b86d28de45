"""The regression gate's evidence: real A/A and slowdown gates, their digests and summary, replays
of the gate's looks and paired test over recorded pools, and the experiments on what sets a
process's level (contention, kernels, a reference workload, live process pairs)."""
