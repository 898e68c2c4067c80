import random

import torch

from trainer.state import newest, rng_state, set_rng_state, should_save, state_name, step_of, to_purge


def test_should_save():
    assert [s for s in range(1, 11) if should_save(s, 10, 4)] == [4, 8, 10]
    assert [s for s in range(1, 11) if should_save(s, 10, 0)] == [10]
    assert [s for s in range(1, 11) if should_save(s, 10, 5, at_end=False)] == [5, 10]
    assert not any(should_save(s, 10, 0, at_end=False) for s in range(1, 11))


def test_to_purge():
    assert to_purge([3, 1, 2, 5], 2) == [1, 2]
    assert to_purge([1, 2], 0) == []
    assert to_purge([1], 3) == []


def test_names_and_newest():
    assert state_name(20) == "step-00000020" and step_of("step-00000020") == 20
    assert step_of(".tmp-step-00000020") is None and step_of("step-20") is None
    assert newest([state_name(9), state_name(30), "notes", state_name(10)]) == state_name(30)
    assert newest([]) is None


def test_rng_state_round_trips_through_json():
    import json

    state = json.loads(json.dumps(rng_state()))
    a = (torch.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
