"""math-router: a large orchestrator model delegates math word problems to a small specialist.

Nothing is imported here until it is used, so `import math_router` is instant
and `python -m math_router.specialists.build_probe` runs before the
dependencies are installed.
"""
