import torch

from trainer.state import LocalStorage, latest, save_state, should_save, state_name, to_purge


class MemoryStorage:
    """The StateStorage protocol in memory."""

    def __init__(self):
        self.states = {}

    def save(self, name, state):
        self.states[name] = state

    def load(self, name):
        return self.states[name]

    def names(self):
        return sorted(self.states)

    def delete(self, name):
        del self.states[name]


def test_should_save():
    assert [s for s in range(1, 11) if should_save(s, 10, 4)] == [4, 8, 10]
    assert [s for s in range(1, 11) if should_save(s, 10, 0)] == [10]
    assert [s for s in range(1, 11) if should_save(s, 10, 5, at_end=False)] == [5, 10]
    assert not any(should_save(s, 10, 0, at_end=False) for s in range(1, 11))


def test_to_purge():
    assert to_purge([3, 1, 2, 5], 2) == [1, 2]
    assert to_purge([1, 2], 0) == []
    assert to_purge([1], 3) == []


def test_save_state_keeps_the_latest():
    storage = MemoryStorage()
    for step in (10, 20, 30):
        save_state(storage, step, {"step": step}, keep_latest=2)
    assert storage.names() == [state_name(20), state_name(30)]
    assert latest(storage) == state_name(30)
    assert latest(MemoryStorage()) is None


def test_local_storage_is_atomic_and_loads_weights_only(tmp_path):
    storage = LocalStorage(tmp_path)
    state = {"model": {"w": torch.arange(3.0)}, "trainer": {"step": 5}, "rng": torch.get_rng_state()}
    storage.save(state_name(5), state)
    storage.save(state_name(5), state)  # saving the same step again replaces it
    # a save killed half-way leaves only a temporary directory, which is never listed and is cleaned up
    (tmp_path / f".tmp-{state_name(9)}-123").mkdir()
    (tmp_path / state_name(7)).mkdir()  # no state.pt: not complete
    assert storage.names() == [state_name(5)]
    loaded = LocalStorage(tmp_path).load(state_name(5))
    assert torch.equal(loaded["model"]["w"], torch.arange(3.0)) and loaded["trainer"]["step"] == 5
    assert not list(tmp_path.glob(".tmp-*"))
