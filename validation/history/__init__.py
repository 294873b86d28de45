"""``kbench history``'s own evidence: false steps on A/A series and power, by replay of
real runs."""
