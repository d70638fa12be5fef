"""The kind axis: what the inputs are. Today a table; series and images come next.

A kind ties its reader and preparation (:mod:`deepfit.data` for tables) to the batch
source the loop reads and to the input layers of the network.
"""
