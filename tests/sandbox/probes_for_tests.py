"""Probes for the sandbox's own tests: each calls the student's function of the same name.

A real probes file (written with the checks) calls the homework's functions; these call the
deliberately misbehaving functions of tests/sandbox/submissions/chaotic instead.
"""

NAMES = (
    "double", "raise_value_error", "loop_forever", "sleep", "exit_now", "sys_exit", "segfault",
    "allocate", "allocate_shared", "fork_bomb", "try_writes", "try_reads", "try_connect",
    "set_state", "get_state", "return_value", "print_fake_status", "print_lots", "scribble_fds",
    "kill_everything", "whoami", "burn_cpu", "try_escapes", "fill_memory",
)


def _calls(name):
    def probe(module, inputs, params):
        return getattr(module, name)(inputs, params)

    probe.__name__ = name
    return probe


PROBES = {name: _calls(name) for name in NAMES}
