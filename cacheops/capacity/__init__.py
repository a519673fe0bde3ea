"""The capacity plan: what the current catalog costs the shared cache, the origin and DynamoDB at a given traffic.

plan.py is the arithmetic (inputs in, plan out, nothing read), text.py prints it, inputs.py reads what it needs.
"""
