"""The compiled run (`Plan`) and its compiler: the config is read once, here, and every later part of
a run (checks, `plan=true`, submission, the runner, status and the report) reads the Plan."""

from hala_exp.plan.compiled import PLAN_FILE, Plan, PlannedStep, StoreState, load_plan
from hala_exp.plan.compiler import compile_plan

__all__ = ["PLAN_FILE", "Plan", "PlannedStep", "StoreState", "compile_plan", "load_plan"]
