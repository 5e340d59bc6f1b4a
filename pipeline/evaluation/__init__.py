"""Zero-shot evaluation on AFEW, AffWild2 and C-EXPR-DB, and the data behind `cer fusion fit`.

One module per dataset layout (`afew`, `affwild2`, `cexprdb`), each a `Corpus`; `collect`
computes and reads the cached expert outputs of a corpus's videos; `scoring` turns them into
predictions for any subset of experts and any basic-to-compound method (which is what makes
the ablation cheap); `metrics` and `report` measure and write.
"""
