"""Generative metrics in `grade`: scoring samples, the training smoke run, thresholds to points, calibration.

    bands.py          the rubric's [metrics] section: reference data sets and FID / AFD bands to points
    samples.py        `grade --samples DIR`: FID, KID, AFD and the memorisation check -> results entries
    smoke_probes.py   PUBLIC: what runs in the sandbox (the smoke run, regenerating from a checkpoint)
    smoke.py          `grade --smoke` / `--checkpoint`: profiles, the reference run, the comparison
    calibrate.py      `grade calibrate DATASET`: the numbers an instructor sets the bands from
    pictures.py       the pictures of a grading: samples beside real images, the bands marked, loss curves

The metrics themselves (FID, AFD, memorisation) live in grader/metrics/.
"""
