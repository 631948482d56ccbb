import numpy as np
import torch

from models.mlp.config import MlpConfig
from models.mlp.net import NonLocalBlock, TabularNet, make_net


def test_plain_and_attention_nets_give_logits_for_every_class():
    numeric, fiber = torch.randn(6, 10), torch.randint(0, 1001, (6,))
    bins = [np.linspace(-3, 3, 9, dtype=np.float32)] * 10
    for cfg in (
        MlpConfig(embedding_dim=4),
        MlpConfig(architecture="attention", embedding_dim=0, norm="batch"),
        MlpConfig(numeric_embedding="periodic"),
        MlpConfig(numeric_embedding="none", architecture="attention"),
    ):
        net = TabularNet(10, 19, cfg, bins)
        assert net(numeric, fiber).shape == (6, 19)
    tabm = make_net(10, 19, MlpConfig(architecture="tabm", ensemble_size=3), bins)
    assert tabm(numeric, fiber).shape == (6, 3, 19)


def test_non_local_block_starts_as_the_identity_and_mixes_features_once_trained():
    block = NonLocalBlock(8)
    tokens = torch.randn(4, 10, 8)
    assert torch.equal(block(tokens), tokens)
    torch.nn.init.normal_(block.out.weight)
    mixed = block(tokens)
    changed = tokens.clone()
    changed[:, 0] = torch.randn(4, 8)  # a new token for feature 0 moves the other features' outputs
    assert not torch.allclose(block(changed)[:, 1:], mixed[:, 1:])


def test_depth_zero_is_a_linear_model():
    net = TabularNet(5, 3, MlpConfig(depth=0, embedding_dim=0, numeric_embedding="none"))
    assert [type(m).__name__ for m in net.head] == ["Linear"]
