"""Train a face-parsing model: ``python train.py [group=option] [key=value] [-m ...]``.

The config tree is ``conf/``; see the README for its groups. The app is ``seg_f1.train``, also
installed as the ``seg-f1-train`` command.
"""

from seg_f1.train import main

if __name__ == "__main__":
    main()
