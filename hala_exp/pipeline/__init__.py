"""The run layer: content-keyed store, leases, dispatch, fan-out and the runner (the graph is
`hala_exp.recipes.graph`)."""
