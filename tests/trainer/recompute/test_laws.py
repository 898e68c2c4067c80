import pytest

from trainer.recompute import ShapeLaw, poly_features


def test_shape_law_recovers_linear_and_quadratic_memory_laws():
    linear, quadratic = ShapeLaw(poly_features(1)), ShapeLaw(poly_features(2))
    for B, S in [(8, 64), (2, 128), (16, 48), (2, 512), (1, 96)]:
        T = B * S
        linear.add((B, S), 4096 + 48 * T)
        quadratic.add((B, S), 4096 + 48 * T + 2 * T * S)  # e.g. materialised attention weights
    assert linear.predict((3, 1000)) == pytest.approx(4096 + 48 * 3000, rel=1e-9)
    assert quadratic.predict((3, 1000)) == pytest.approx(4096 + 48 * 3000 + 2 * 3000 * 1000, rel=1e-9)
    assert quadratic.held_out_error() < 1e-9 and linear.held_out_error() < 1e-9
    # the linear law cannot express the attention term: its held-out error says so
    wrong = ShapeLaw(poly_features(1))
    for shape in quadratic.shapes:
        wrong.add(shape, quadratic.predict(shape))
    assert wrong.held_out_error() > 0.1


def test_shape_law_with_fewer_shapes_than_terms_fits_proportional_then_affine():
    law = ShapeLaw(poly_features(2))
    law.add((4, 32), 1000.0)
    assert law.predict((8, 32)) == pytest.approx(2000.0)  # one shape: bytes proportional to tokens
    law.add((8, 32), 1500.0)
    assert law.predict((16, 32)) == pytest.approx(2500.0)  # two: affine in tokens

