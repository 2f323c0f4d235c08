"""Membership inference: given a record and a model, was the record in the model's training set?

Every attack here scores members and non-members of the same size from `ctx.membership` (members from
the split the model was trained on, non-members from a held-out split) and reports the metrics of
`securitynet.attacks.membership.metrics`.
"""
