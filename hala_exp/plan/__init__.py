"""The compiled run: `compiler.compile_plan` reads the config once, here, into `compiled.Plan`, which
every later part of a run (checks, `plan=true`, submission, the runner, status and the report)
reads. Nothing is imported with the package: the runner loads the Plan's types without the compiler."""
