"""The quiet console of `hala-exp`: step lines and a live bar; library output goes to step logs."""
