"""The series kind: a time-indexed panel of one or more series, cut into windows.

Reading and checking (:mod:`.panel`), calendar features (:mod:`.calendar`), scaling per
series (:mod:`.scaling`) and the windows the loop trains on (:mod:`.windows`). A window is
``lookback`` steps in and ``horizon`` steps out; splits are by time only.
"""

NAME = "series"
