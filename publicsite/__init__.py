"""The public site of every page: its URLconf (and, later, the snapshot layer in front of Django).

It sits on top of the apps, reads through their views and selectors, and owns no business rule.
"""
