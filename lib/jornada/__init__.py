"""Jornada de Dados: the importable library behind the course notebooks.

One module per stage of the data's path: config → stack → schema → generators → geo → fraud →
maps (later: cdc, warehouse, lake).
"""

__version__ = "0.1.0"
