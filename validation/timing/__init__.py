"""The step time's evidence: the estimator against a step's marginal cost, the warm-up rule, and
where a worker process's seconds and spread go."""
