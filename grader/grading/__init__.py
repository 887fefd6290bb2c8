"""The grading pipeline: the calls every check makes, run on the submission and the reference, then scored.

    probes.py             PUBLIC: the functions that call student code (inside the sandbox)
    reference.py          the same probes on solution/diffusion_hw, imported as diffusion_hw_reference
    plans.py              the calls and reference outputs of every check
    public_expected.py    the public checks' plans, stored in public_expected.safetensors
    session.py            one grading session: sandbox calls, then judging and scoring
    salt.py               the secret the hidden checks' random cases are drawn from
    deadline.py           a time limit on judging, in any thread
    untrusted.py          text from student code or a hand-in, made writable and bounded
"""
