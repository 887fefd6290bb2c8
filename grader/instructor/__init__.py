"""Instructor-only tools: never in the students' handout (it leaves this package out whole).

    starter.py, notebooks.py      starter/ generated from solution/, the two notebooks
    handout.py, public_grader.py  the student zip and the grader it carries (hidden checks cut out)
    gradescope.py                 the Gradescope autograder zip and its run_autograder entry point
    batch.py, cluster.py          `grade batch`: a whole class, locally or on Slurm, into a gradebook
    calibrate.py                  `grade calibrate DATASET`: the numbers the metric bands are set from
    course_ci.py                  course CI: the solution must earn full marks
    reference_training.py         a short reference training run (samples, plots, a checkpoint)
    bench.py                      `tasks.py bench`: timings as ratios against an anchor of the same run
"""
