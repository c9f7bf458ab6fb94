"""`hala-exp-report`: a run's or a sweep's report as one self-contained HTML page."""
