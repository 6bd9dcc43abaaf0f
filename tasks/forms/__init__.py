"""Scripted form filling (``fill``): specs and data (``form.py``), finding fields by their labels
(``locate_field.py``), the filler (``fill.py``); bundled specs and data sit beside them."""
