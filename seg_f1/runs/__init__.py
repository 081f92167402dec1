"""A run on disk: its directory and the lock on it (``directory``), ``result.json``
(``results``), checkpoints read without arbitrary pickle (``checkpoints``), resuming a killed run
(``resume``, ``resume_config``), the loggers it reports to (``tracking``), the services it
depends on, checked before it starts (``services``), and the atomic writes everything else goes
through (``io``)."""
