import pytest
import rtdl_num_embeddings
import torch

from models.mlp.periodic import FusedPeriodicEmbeddings, _PeriodicLinearReLU


def twin_embeddings(n_features=5, d_embedding=4, n_frequencies=3, scale=0.5):
    """rtdl's PLR embeddings and the fused ones, built from the same seed, in float64."""
    torch.manual_seed(7)
    reference = rtdl_num_embeddings.PeriodicEmbeddings(
        n_features,
        d_embedding,
        n_frequencies=n_frequencies,
        frequency_init_scale=scale,
        activation=True,
        lite=False,
    )
    torch.manual_seed(7)
    fused = FusedPeriodicEmbeddings(
        n_features, d_embedding, n_frequencies=n_frequencies, frequency_init_scale=scale
    )
    return reference.double(), fused.double()


def test_same_parameters_as_rtdl_from_the_same_seed():
    reference, fused = twin_embeddings()
    named = dict(fused.named_parameters())
    assert list(named) == [name for name, _ in reference.named_parameters()]
    for name, value in reference.named_parameters():
        assert torch.equal(value, named[name])


def test_forward_and_gradients_equal_rtdl():
    reference, fused = twin_embeddings()
    x = torch.randn(64, 5, dtype=torch.float64) * 3
    x_ref, x_fused = x.clone().requires_grad_(), x.clone().requires_grad_()
    upstream = torch.randn(64, 5, 4, dtype=torch.float64)
    out_ref, out_fused = reference(x_ref), fused(x_fused)
    assert out_fused.shape == (64, 5, 4)
    assert torch.allclose(out_fused, out_ref, atol=1e-13, rtol=0)
    assert (out_ref == 0).any()  # the ReLU is active on some outputs, so its mask is tested
    (out_ref * upstream).sum().backward()
    (out_fused * upstream).sum().backward()
    for (name, value), fused_value in zip(reference.named_parameters(), fused.parameters()):
        assert torch.allclose(fused_value.grad, value.grad, atol=1e-10, rtol=0), name
    assert torch.allclose(x_fused.grad, x_ref.grad, atol=1e-10, rtol=0)


def test_backward_passes_gradcheck():
    _, fused = twin_embeddings(n_features=3, d_embedding=2, n_frequencies=2)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    inputs = (x, fused.periodic.weight, fused.linear.weight, fused.linear.bias)
    assert torch.autograd.gradcheck(_PeriodicLinearReLU.apply, inputs)


def test_parameters_only_backward_leaves_the_inputs_without_gradient():
    _, fused = twin_embeddings()
    fused(torch.randn(8, 5, dtype=torch.float64)).sum().backward()
    assert all(p.grad is not None for p in fused.parameters())


def test_inputs_of_the_wrong_shape_are_refused():
    _, fused = twin_embeddings()
    with pytest.raises(ValueError, match=r"expected \(rows, 5\)"):
        fused(torch.randn(8, 4, dtype=torch.float64))
