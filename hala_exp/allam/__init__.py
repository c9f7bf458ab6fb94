"""ALLaM-style studies: tokenizer fertility, vocabulary expansion, mixture sampling, gradient spikes."""
