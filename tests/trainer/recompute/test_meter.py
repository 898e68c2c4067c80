from tests.trainer.recompute.helpers import batch, tiny_model
from trainer.recompute import ActivationMeter


def test_meter_counts_each_block_and_what_the_plan_really_keeps():
    model = tiny_model()
    meter = ActivationMeter(model)
    x, y = batch((4, 32))
    kept = {}
    for plan in ([False] * 3, [True] * 3, [True, False, True]):
        model.set_recompute_plan(plan)
        meter.start((4, 32))
        model(x, y).backward()
        kept[tuple(plan)] = m = meter.stop()
    none, full, mixed = kept.values()
    assert none.block_bytes == full.block_bytes == mixed.block_bytes  # measured whatever the plan
    assert all(i == 4 * 32 * 64 * 4 for i in none.input_bytes)  # fp32 input of each block
    other = none.kept_bytes - sum(none.block_bytes)
    assert full.kept_bytes == other + sum(full.input_bytes)
    assert mixed.kept_bytes == other + none.input_bytes[0] + none.block_bytes[1] + none.input_bytes[2]
    working = max(a - i for a, i in zip(m.block_bytes, m.input_bytes, strict=True))
    assert full.peak_bytes([True] * 3) == full.kept_bytes + working
    assert not meter.running and model(x, y).requires_grad  # hooks gone

