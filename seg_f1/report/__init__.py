"""Everything a run, an evaluation or a sweep reports: figures (``figures``, ``palette``),
tables rendered from one row model (``tables``) and the atomic file writers (``files``)."""
