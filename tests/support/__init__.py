"""What several test folders share, imported as `tests.support.<module>`.

    corpus.py         the corpus of wrong and alternative-correct submissions, with the points each must lose
    hostile.py        the attacks: submissions that try to cheat, escape or break the grader
    grading.py        run `grade` as students and instructors do (a subprocess) and read what it wrote
    fixtures.py       session-wide fixtures: the rubric, the plans, every corpus submission graded once
    sandbox.py        the sandbox tests' limits, probes and misbehaving submission tree
    metric_images.py  synthetic images for the metric tests
    generative.py     scoring settings tiny sample sets reach, real digits, a 2-step checkpoint
    digit_samples.py  real held-out digits as class-conditional samples (a folder per digit), the classifier's cache
    course_data.py    the course data (real anime faces) under the data root, found as .ci/run sets it
"""
