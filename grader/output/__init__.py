"""What a grading tells people: Gradescope's results.json, the terminal summary, the report files.

    results.py         results.json (Gradescope's format) and the GradeReport it is written from
    terminal.py        the summary printed by `grade`
    report_files.py    report.md / report.html (staff) and student_report.md / .html (visible checks only)
    check_pictures.py  expected-vs-got pictures of failed checks
"""
