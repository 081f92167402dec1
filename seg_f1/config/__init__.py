"""The composed config before anything runs: values refused by key (``checks``), the tree printed
and saved (``tree``), and keys that moved, read at their old place for one release
(``deprecated``)."""
