"""Generative metrics in `grade`: scoring samples, the training smoke run, thresholds to points.

    bands.py           the rubric's [metrics] section: reference data sets and FID / AFD bands to points
    grading.py         what `grade --samples/--smoke/--checkpoint` adds to a grading: options and results entries
    handed_in.py       `--samples-in` / `--checkpoint-in`: the samples or checkpoint each hand-in carries
    samples.py         `grade --samples DIR`: FID, KID, AFD and the memorisation check -> results entries
    conditional_samples.py  class-conditional samples (a folder per digit) -> the digit classifier's accuracy entry
    student_images.py  image files a student handed in, decoded in the sandbox, checked on the way back
    image_probes.py    PUBLIC: the decoding student_images.py runs in the sandbox
    smoke_probes.py    PUBLIC: what runs in the sandbox for the smoke run and a checkpoint's samples
    smoke.py           `grade --smoke` / `--checkpoint`: profiles, the reference run, the comparison
    pictures.py        the pictures of a grading: samples beside real images, the bands marked, loss curves

The metrics themselves live in grader/metrics/; calibrating the bands (`grade calibrate`) is an
instructor tool, grader/instructor/calibrate.py.
"""
