"""What was handed in, made a private copy of diffusion_hw/ to grade.

    submission.py   a folder, a .zip, loose TODO files, or `solution` / `starter` -> a clean copy (safe unzip)
    notebook.py     a Jupyter notebook: its marked cells become the TODO files they name
"""
