"""Model flavors: saving, loading and calling models of each library the same way.

Use :func:`modelyard.runtime.flavors.get_flavor` to pick a flavor by name; each flavor's
optional dependency is imported only when that flavor is used.
"""
